-- One row per person and source id the activation path addresses: the shop customer a checkout webhook names, the
-- ESP profile a message is sent to, the loyalty member. The real-time path reads this from the serving copy to turn
-- a webhook's customer id into a person and the person into an ESP profile, without touching the warehouse or pii.
-- ESP profiles enter the identity graph by their e-mail's keyed hash (esp_contact); a profile without an e-mail, or
-- whose e-mail no ESP event carried, has no person and no row.
with map as (
    select identifier_type, identifier_value, person_id
    from {{ ref('int_identity__identifier_map') }}
),

direct_ids as (
    select
        person_id,
        identifier_type as id_type,
        identifier_value as source_id
    from map
    where identifier_type in ('shop_customer', 'loyalty_member')
),

esp_profiles as (
    select
        map.person_id,
        'esp_profile' as id_type,
        cast(profiles.esp_profile_id as varchar) as source_id
    from {{ ref('stg_esp__profiles') }} as profiles
    inner join map
        on map.identifier_type = 'esp_contact'
        and map.identifier_value = profiles.email_hash
    where profiles.email_hash is not null
)

select
    cast(person_id as varchar) as person_id,
    cast(id_type as varchar) as id_type,
    cast(source_id as varchar) as source_id
from direct_ids
union all
select
    cast(person_id as varchar),
    cast(id_type as varchar),
    cast(source_id as varchar)
from esp_profiles
