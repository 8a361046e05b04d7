-- Every identifier of every resolved person, in clear and as its keyed hash: the records of the identity graph
-- (int_identity__identifier_map, which holds direct identifiers only as keyed hashes) with their clear values, and
-- the match keys the person's records carry (e-mail, phone, social handle). `journey forget` finds a person here.
with map as (
    select * from {{ ref('int_identity__identifier_map') }} where person_id is not null
),

shop as (
    select * from {{ ref('stg_shop__customers') }}
),

members as (
    select * from {{ ref('stg_loyalty__members') }}
),

devices as (
    select * from {{ ref('stg_iot__devices') }} where opted_in
),

-- record type, clear value, the value as the identity graph holds it
records as (
    select 'shop_customer' as identifier_type, shop_customer_id as identifier_value, shop_customer_id as graph_value
    from shop
    union
    select 'esp_contact', email_normalized, email_hash from {{ ref('stg_esp__events') }} where email_hash is not null
    union
    select 'social_handle', handle_normalized, handle_hash from {{ ref('stg_social__interactions') }}
    union
    select 'loyalty_member', loyalty_member_id, loyalty_member_id as graph_value from members
    union
    select 'loyalty_card', card_number, card_number_hash from {{ ref('stg_loyalty__cards') }}
    union
    select 'iot_device', device_id, device_id as graph_value from devices
    union
    select identifier_type, case when identifier_type = 'history_email' then email_normalized else identifier_value end,
        identifier_pseudonym
    from {{ ref('stg_history__orders') }}
),

resolved as (
    select map.person_id, records.identifier_type, records.identifier_value
    from records
    inner join map on map.identifier_type = records.identifier_type and map.identifier_value = records.graph_value
),

-- the match keys each record carries
keys as (
    select person_id, 'email' as identifier_type, shop.email_normalized as identifier_value
    from resolved inner join shop on resolved.identifier_type = 'shop_customer' and resolved.identifier_value = shop.shop_customer_id
    union
    select person_id, 'phone', shop.phone_normalized
    from resolved inner join shop on resolved.identifier_type = 'shop_customer' and resolved.identifier_value = shop.shop_customer_id
    union
    select person_id, 'handle', shop.social_handle_normalized
    from resolved inner join shop on resolved.identifier_type = 'shop_customer' and resolved.identifier_value = shop.shop_customer_id
    union
    select person_id, 'email', members.email_normalized
    from resolved
    inner join members
        on resolved.identifier_type = 'loyalty_member' and resolved.identifier_value = members.loyalty_member_id
    union
    select person_id, 'phone', members.phone_normalized
    from resolved
    inner join members
        on resolved.identifier_type = 'loyalty_member' and resolved.identifier_value = members.loyalty_member_id
    union
    select person_id, 'email', devices.owner_email_normalized
    from resolved inner join devices on resolved.identifier_type = 'iot_device' and resolved.identifier_value = devices.device_id
    union
    select person_id, 'email', identifier_value from resolved where identifier_type in ('esp_contact', 'history_email')
    union
    select person_id, 'handle', identifier_value from resolved where identifier_type = 'social_handle'
),

identifiers as (
    select * from resolved
    union
    select * from keys where identifier_value is not null
)

select person_id, identifier_type, identifier_value, {{ keyed_hash('identifier_value') }} as identifier_hash
from identifiers
