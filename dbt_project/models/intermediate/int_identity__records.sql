-- One row per source identifier: the records of the identity graph (its nodes besides the match keys). An identifier
-- that is itself personal data (an ESP contact's e-mail, a social handle, a loyalty card number, an imported order's
-- e-mail) is its keyed hash here and in every node; the clear values stay in schema pii (pii.person_identifiers).
with identifiers as (
    select 'shop_customer' as identifier_type, shop_customer_id as identifier_value from {{ ref('stg_shop__customers') }}
    union
    select 'esp_contact', email_hash from {{ ref('stg_esp__events') }} where email_hash is not null
    union
    select 'social_handle', handle_hash from {{ ref('stg_social__interactions') }}
    union
    select 'loyalty_member', loyalty_member_id from {{ ref('stg_loyalty__members') }}
    union
    select 'loyalty_card', card_number_hash from {{ ref('stg_loyalty__cards') }}
    union
    select 'iot_device', device_id from {{ ref('stg_iot__devices') }} where opted_in
    union
    -- imported orders name a shop customer, a loyalty member (usually known already) or only an e-mail
    select identifier_type, identifier_pseudonym from {{ ref('stg_history__orders') }}
)

select identifier_type || ':' || identifier_value as node, identifier_type, identifier_value
from identifiers
