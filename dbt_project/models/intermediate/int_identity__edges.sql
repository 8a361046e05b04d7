-- The identity graph: every source record is a node; it links to the match keys it carries
-- (normalised e-mail, phone, social handle) and to the records it references (card -> member).
-- A match key carried by several records of the same kind (a shop's placeholder phone, one inbox behind
-- many loyalty members) says nothing about a person and is left out of the graph. Records of different
-- kinds sharing a key are what identity resolution is for: one person may have two shop accounts, an
-- ESP contact, a loyalty membership and a device on one address.
{% set max_records_per_key_and_kind = 2 %}

with record_keys as (
    select 'shop_customer:' || shop_customer_id as node, 'email:' || email_normalized as match_key
    from {{ ref('stg_shop__customers') }} where email_normalized is not null
    union all
    select 'shop_customer:' || shop_customer_id, 'phone:' || phone_normalized
    from {{ ref('stg_shop__customers') }} where phone_normalized is not null
    union all
    select 'shop_customer:' || shop_customer_id, 'handle:' || social_handle_normalized
    from {{ ref('stg_shop__customers') }} where social_handle_normalized is not null
    union all
    select distinct 'esp_contact:' || email_normalized, 'email:' || email_normalized
    from {{ ref('stg_esp__events') }} where email_normalized is not null
    union all
    select distinct 'social_handle:' || handle_normalized, 'handle:' || handle_normalized
    from {{ ref('stg_social__interactions') }}
    union all
    select 'loyalty_member:' || loyalty_member_id, 'email:' || email_normalized
    from {{ ref('stg_loyalty__members') }} where email_normalized is not null
    union all
    select 'loyalty_member:' || loyalty_member_id, 'phone:' || phone_normalized
    from {{ ref('stg_loyalty__members') }} where phone_normalized is not null
    union all
    select 'iot_device:' || device_id, 'email:' || owner_email_normalized
    from {{ ref('stg_iot__devices') }} where opted_in and owner_email_normalized is not null
),

records_per_key_and_kind as (
    select match_key, split_part(node, ':', 1) as record_kind, count(distinct node) as records
    from record_keys
    group by match_key, split_part(node, ':', 1)
),

usable_keys as (
    select match_key
    from records_per_key_and_kind
    group by match_key
    having max(records) <= {{ max_records_per_key_and_kind }}
),

references_between_records as (
    select 'loyalty_card:' || card_number as node, 'loyalty_member:' || loyalty_member_id as linked_node
    from {{ ref('stg_loyalty__cards') }}
)

select record_keys.node, record_keys.match_key as linked_node, 'match_key' as link_type
from record_keys
inner join usable_keys on record_keys.match_key = usable_keys.match_key
union all
select node, linked_node, 'reference' as link_type
from references_between_records
union all
select node_a, node_b, 'probabilistic' as link_type
from {{ ref('int_identity__probabilistic_links') }}
where match_probability >= {{ var('identity_link_threshold') }}
