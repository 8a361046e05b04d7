-- One row per source identifier: the records of the identity graph (its nodes besides the match keys).
with identifiers as (
    select 'shop_customer' as identifier_type, shop_customer_id as identifier_value from {{ ref('stg_shop__customers') }}
    union
    select 'esp_contact', email_normalized from {{ ref('stg_esp__events') }} where email_normalized is not null
    union
    select 'social_handle', handle_normalized from {{ ref('stg_social__interactions') }}
    union
    select 'loyalty_member', loyalty_member_id from {{ ref('stg_loyalty__members') }}
    union
    select 'loyalty_card', card_number from {{ ref('stg_loyalty__cards') }}
    union
    select 'iot_device', device_id from {{ ref('stg_iot__devices') }} where opted_in
    union
    -- imported orders name a shop customer, a loyalty member (usually known already) or only an e-mail
    select identifier_type, identifier_value from {{ ref('stg_history__orders') }}
)

select identifier_type || ':' || identifier_value as node, identifier_type, identifier_value
from identifiers
