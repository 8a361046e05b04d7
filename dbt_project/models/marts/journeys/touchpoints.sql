-- One row per interaction on every channel, with its person (null while unknown). Storefront events come
-- stitched (int_journey__stitched_events): once a visitor logs in or arrives through a tracked e-mail link,
-- its events, earlier ones too, belong to the person.
--
-- Incremental (macros/incremental.sql), replaced by touchpoint_id: a run rebuilds
-- - the rows whose own time lies in the lookback window (var lookback_days before the newest occurred_at built):
--   the time the storefront's collector received an event (late events arrive hours after they happened), an
--   order's or checkout's or social interaction's last update (a refund, an edit), an e-mail event's or its
--   profile's (an address added later), a receipt's, points', reading's own time;
-- - every storefront event of a visitor with an event received in the window or whose login or e-mail link
--   identifier changed person (stitching reaches back in time);
-- - every row of an identifier whose person changed in this run (int_identity__identifier_changes), any age;
-- and a post-hook deletes rows whose source record is gone (erased, deleted in the POS, consent withdrawn).
-- Rows changed later than the window, dated before it, need --full-refresh (as a change of var or rule does).
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='touchpoint_id',
        on_schema_change='fail',
        post_hook="{{ delete_from(this, 'touchpoint_id not in (' ~ touchpoint_source_ids() ~ ')') }}",
    )
}}
{%- set incremental = is_incremental() %}
-- depends_on: {{ ref('int_identity__identifier_changes') }}
-- depends_on: {{ ref('int_journey__storefront_events') }}
-- depends_on: {{ ref('stg_esp__profiles') }}
with identities as (
    select * from {{ ref('int_identity__identifier_map') }}
),

stitched_events as (
    select * from {{ ref('int_journey__stitched_events') }}
    {%- if incremental %}
    where visitor_id in (
        select events.visitor_id
        from {{ ref('int_journey__storefront_events') }} as events
        left join {{ ref('stg_esp__profiles') }} as profiles on events.email_link_profile_id = profiles.esp_profile_id
        where events.received_at >= {{ lookback_since() }}
            or events.shop_customer_id in {{ changed_identifiers('shop_customer') }}
            or profiles.email_hash in {{ changed_identifiers('esp_contact') }}
            or profiles.updated_at >= {{ lookback_since() }}
    )
    {%- endif %}
),

order_products as (
    -- the product of a one-product order or checkout
    select order_id, min(product_id) as product_id from {{ ref('stg_shop__order_lines') }}
    group by order_id having count(distinct product_id) = 1
),

checkout_products as (
    select checkout_id, min(product_id) as product_id from {{ ref('stg_shop__abandoned_checkout_lines') }}
    group by checkout_id having count(distinct product_id) = 1
),

touchpoints as (
    select
        'storefront:' || storefront_event_id as touchpoint_id,
        event_type as touchpoint_type,
        person_id,
        visitor_id,
        occurred_at,
        'online' as channel,
        utm_source as source,
        utm_medium as medium,
        utm_campaign as campaign,
        product_id,
        0 as revenue,
        false as is_conversion
    from stitched_events
    union all
    select
        'order:' || orders.order_id, 'order', identities.person_id, null, orders.ordered_at, 'online', null, null, null,
        order_products.product_id,
        case when orders.is_revenue then orders.total_price else 0 end,
        orders.is_revenue
    from {{ ref('stg_shop__orders') }} as orders
    left join identities
        on identities.identifier_type = 'shop_customer' and identities.identifier_value = orders.shop_customer_id
    left join order_products on orders.order_id = order_products.order_id
    {%- if incremental %}
    where greatest(orders.ordered_at, orders.updated_at) >= {{ lookback_since() }}
        or orders.shop_customer_id in {{ changed_identifiers('shop_customer') }}
    {%- endif %}
    union all
    select
        'checkout:' || checkouts.checkout_id, 'abandoned_checkout', coalesce(customers.person_id, contacts.person_id), null,
        checkouts.abandoned_at, 'online', null, null, null, checkout_products.product_id, 0, false
    from {{ ref('stg_shop__abandoned_checkouts') }} as checkouts
    left join identities as customers
        on customers.identifier_type = 'shop_customer' and customers.identifier_value = checkouts.shop_customer_id
    left join identities as contacts  -- a guest checkout: the address it was left with
        on contacts.identifier_type = 'esp_contact' and contacts.identifier_value = checkouts.email_hash
    left join checkout_products on checkouts.checkout_id = checkout_products.checkout_id
    {%- if incremental %}
    where greatest(checkouts.abandoned_at, checkouts.updated_at) >= {{ lookback_since() }}
        or checkouts.shop_customer_id in {{ changed_identifiers('shop_customer') }}
        or checkouts.email_hash in {{ changed_identifiers('esp_contact') }}
    {%- endif %}
    union all
    select
        'email:' || events.email_event_id, 'email_' || events.event_type, identities.person_id, null, events.occurred_at,
        'email', 'esp', 'email', events.campaign_id, null, 0, false
    from {{ ref('stg_esp__events') }} as events
    left join identities
        on identities.identifier_type = 'esp_contact' and identities.identifier_value = events.email_hash
    {%- if incremental %}
    left join {{ ref('stg_esp__profiles') }} as profiles on events.esp_profile_id = profiles.esp_profile_id
    {%- endif %}
    where events.event_type != 'control'  -- held out of a campaign: nothing reached the person
    {%- if incremental %}
        and (events.occurred_at >= {{ lookback_since() }}
            or profiles.updated_at >= {{ lookback_since() }}
            or events.email_hash in {{ changed_identifiers('esp_contact') }})
    {%- endif %}
    union all
    select
        'social:' || interactions.interaction_id, 'social_' || interactions.interaction_type, identities.person_id, null,
        interactions.occurred_at, 'social', interactions.channel, 'social', interactions.post_id, null, 0, false
    from {{ ref('stg_social__interactions') }} as interactions
    left join identities
        on identities.identifier_type = 'social_handle' and identities.identifier_value = interactions.handle_hash
    {%- if incremental %}
    where greatest(interactions.occurred_at, interactions.updated_at) >= {{ lookback_since() }}
        or interactions.handle_hash in {{ changed_identifiers('social_handle') }}
    {%- endif %}
    union all
    select
        'receipt:' || receipts.receipt_id, 'pos_receipt', identities.person_id, null, receipts.purchased_at, 'pos',
        receipts.store_id, 'offline', null, null, receipts.total_amount, true
    from {{ ref('stg_loyalty__receipts') }} as receipts
    left join identities
        on identities.identifier_type = 'loyalty_card' and identities.identifier_value = receipts.card_number_hash
    {%- if incremental %}
    where receipts.purchased_at >= {{ lookback_since() }}
        or receipts.card_number_hash in {{ changed_identifiers('loyalty_card') }}
    {%- endif %}
    union all
    select
        'points:' || points.points_txn_id, 'loyalty_points', identities.person_id, null, points.created_at, 'loyalty',
        null, null, null, null, 0, false
    from {{ ref('stg_loyalty__points') }} as points
    left join identities
        on identities.identifier_type = 'loyalty_member' and identities.identifier_value = points.loyalty_member_id
    {%- if incremental %}
    where points.created_at >= {{ lookback_since() }}
        or points.loyalty_member_id in {{ changed_identifiers('loyalty_member') }}
    {%- endif %}
    union all
    select
        'iot:' || readings.reading_id, 'iot_reading', identities.person_id, null, readings.recorded_at, 'iot',
        null, null, null, null, 0, false
    from {{ ref('stg_iot__readings') }} as readings
    left join identities
        on identities.identifier_type = 'iot_device' and identities.identifier_value = readings.device_id
    {%- if incremental %}
    where readings.recorded_at >= {{ lookback_since() }}
        or readings.device_id in {{ changed_identifiers('iot_device') }}
    {%- endif %}
)

select
    cast(touchpoint_id as varchar) as touchpoint_id,
    cast(touchpoint_type as varchar) as touchpoint_type,
    touchpoint_type in ({{ "'" ~ var('outbound_touchpoint_types') | join("', '") ~ "'" }}) as is_outbound,
    cast(is_conversion as boolean) as is_conversion,
    cast(person_id as varchar) as person_id,
    cast(visitor_id as varchar) as visitor_id,
    cast(occurred_at as timestamptz) as occurred_at,
    cast(channel as varchar) as channel,
    cast(source as varchar) as source,
    cast(medium as varchar) as medium,
    cast(campaign as varchar) as campaign,
    cast(product_id as varchar) as product_id,
    {{ money('revenue') }} as revenue
from touchpoints
