-- STAND-IN for H3's marts.person_source_ids (issue 10, INTERFACE10.md): the lead keeps H3's file and drops this
-- one at integration. One row per person and source id the activation path addresses.
with identities as (
    select * from {{ ref('int_identity__identifier_map') }} where person_id is not null
)

select distinct
    cast(identities.person_id as varchar) as person_id,
    cast('esp_profile' as varchar) as id_type,
    cast(profiles.esp_profile_id as varchar) as source_id
from {{ ref('stg_esp__profiles') }} as profiles
inner join identities
    on identities.identifier_type = 'esp_contact' and identities.identifier_value = profiles.email_hash
union all
select distinct
    cast(person_id as varchar),
    cast(case identifier_type when 'shop_customer' then 'shop_customer' else 'loyalty_member' end as varchar),
    cast(identifier_value as varchar)
from identities
where identifier_type in ('shop_customer', 'loyalty_member')
