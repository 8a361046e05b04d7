-- Every known customer touchpoint, on every channel, attached to its person.
with identities as (
    select * from {{ ref('int_identity__identifier_map') }}
),

touchpoints as (
    select 'order:' || order_id as touchpoint_id, 'online' as channel, 'order' as touchpoint_type,
        'shop_customer' as identifier_type, shop_customer_id as identifier_value, ordered_at as occurred_at,
        case when is_revenue then total_price else 0 end as revenue
    from {{ ref('stg_shop__orders') }}
    union all
    select 'checkout:' || checkout_id, 'online', 'abandoned_checkout', 'shop_customer', shop_customer_id, abandoned_at, 0
    from {{ ref('stg_shop__abandoned_checkouts') }} where shop_customer_id is not null
    union all
    select 'storefront:' || storefront_event_id, 'online', event_type, 'shop_customer', shop_customer_id, occurred_at, 0
    from {{ ref('stg_shop__events') }} where shop_customer_id is not null
    union all
    select 'email:' || email_event_id, 'email', 'email_' || event_type, 'esp_contact', email_normalized, occurred_at, 0
    from {{ ref('stg_esp__events') }}
    union all
    select 'social:' || interaction_id, 'social', 'social_' || interaction_type, 'social_handle', handle_normalized, occurred_at, 0
    from {{ ref('stg_social__interactions') }}
    union all
    select 'receipt:' || receipt_id, 'pos', 'receipt', 'loyalty_card', card_number, purchased_at, total_amount
    from {{ ref('stg_loyalty__receipts') }} where card_number is not null
    union all
    select 'iot:' || reading_id, 'iot', 'iot_reading', 'iot_device', device_id, recorded_at, 0
    from {{ ref('stg_iot__readings') }}
)

select
    touchpoints.touchpoint_id,
    identities.person_key,
    touchpoints.channel,
    touchpoints.touchpoint_type,
    touchpoints.occurred_at,
    touchpoints.revenue
from touchpoints
inner join identities
    on touchpoints.identifier_type = identities.identifier_type
    and touchpoints.identifier_value = identities.identifier_value
