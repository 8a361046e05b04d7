-- Every known customer touchpoint, on every channel, attached to its person, with what it was about:
-- items (order and checkout lines), loyalty points earned, the email campaign, the social post.
--
-- Incremental like marts.touchpoints (macros/incremental.sql): the rows whose own time (event, arrival, update)
-- lies in the lookback window, and every row of an identifier whose person changed in this run (or that appeared
-- or went: a touchpoint of an identifier nobody is known by is not here); a post-hook deletes rows whose source
-- record or person is gone (touchpoint_source_ids: a superset of this model's ids).
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='touchpoint_id',
        on_schema_change='fail',
        post_hook="{{ delete_from(this, 'person_id is null or touchpoint_id not in (' ~ touchpoint_source_ids() ~ ')') }}",
    )
}}
{%- set incremental = is_incremental() %}
{#- the window's end: the newest touchpoint not timed by a visitor's device (storefront events here keep the device's
    time, which may run ahead: marts.touchpoints corrects it) #}
{%- set trusted = "touchpoint_id not like 'storefront:%'" %}
-- depends_on: {{ ref('int_identity__identifier_changes') }}
-- depends_on: {{ ref('stg_esp__profiles') }}
with identities as (
    select * from {{ ref('int_identity__identifier_map') }}
),

order_items as (
    select order_id, sum(quantity) as items from {{ ref('stg_shop__order_lines') }} group by order_id
),

checkout_items as (
    select checkout_id, sum(quantity) as items from {{ ref('stg_shop__abandoned_checkout_lines') }} group by checkout_id
),

receipt_points as (
    select receipt_id, sum(points) as points from {{ ref('stg_loyalty__points') }} group by receipt_id
),

touchpoints as (
    select 'order:' || orders.order_id as touchpoint_id, 'online' as channel, 'order' as touchpoint_type,
        'shop_customer' as identifier_type, orders.shop_customer_id as identifier_value, orders.ordered_at as occurred_at,
        case when orders.is_revenue then orders.total_price else 0 end as revenue,
        coalesce(order_items.items, 0) as items, 0 as points,
        cast(null as varchar) as campaign_id, cast(null as varchar) as post_id
    from {{ ref('stg_shop__orders') }} as orders
    left join order_items on orders.order_id = order_items.order_id
    {%- if incremental %}
    where greatest(orders.ordered_at, orders.updated_at) >= {{ lookback_since(where=trusted) }}
        or orders.shop_customer_id in {{ changed_identifiers('shop_customer') }}
    {%- endif %}
    union all
    select 'checkout:' || checkouts.checkout_id, 'online', 'abandoned_checkout', 'shop_customer', checkouts.shop_customer_id,
        checkouts.abandoned_at, 0, coalesce(checkout_items.items, 0), 0, null, null
    from {{ ref('stg_shop__abandoned_checkouts') }} as checkouts
    left join checkout_items on checkouts.checkout_id = checkout_items.checkout_id
    where checkouts.shop_customer_id is not null
    {%- if incremental %}
        and (greatest(checkouts.abandoned_at, checkouts.updated_at) >= {{ lookback_since(where=trusted) }}
            or checkouts.shop_customer_id in {{ changed_identifiers('shop_customer') }})
    {%- endif %}
    union all
    select 'storefront:' || storefront_event_id, 'online', event_type, 'shop_customer', shop_customer_id, occurred_at,
        0, 0, 0, null, null
    from {{ ref('stg_shop__events') }}
    where shop_customer_id is not null
    {%- if incremental %}
        and (received_at >= {{ lookback_since(where=trusted) }} or shop_customer_id in {{ changed_identifiers('shop_customer') }})
    {%- endif %}
    union all
    select 'email:' || events.email_event_id, 'email', 'email_' || events.event_type, 'esp_contact', events.email_hash,
        events.occurred_at, 0, 0, 0, campaigns.campaign_id, null
    from {{ ref('stg_esp__events') }} as events
    inner join {{ ref('stg_esp__campaigns') }} as campaigns on events.campaign_id = campaigns.campaign_id
    {%- if incremental %}
    left join {{ ref('stg_esp__profiles') }} as profiles on events.esp_profile_id = profiles.esp_profile_id
    {%- endif %}
    where events.event_type != 'control'  -- held out of a campaign: nothing reached the person
    {%- if incremental %}
        and (events.occurred_at >= {{ lookback_since(where=trusted) }}
            or profiles.updated_at >= {{ lookback_since(where=trusted) }}
            or events.email_hash in {{ changed_identifiers('esp_contact') }})
    {%- endif %}
    union all
    select 'social:' || interactions.interaction_id, 'social', 'social_' || interactions.interaction_type, 'social_handle',
        interactions.handle_hash, interactions.occurred_at, 0, 0, 0, null, posts.post_id
    from {{ ref('stg_social__interactions') }} as interactions
    left join {{ ref('stg_social__posts') }} as posts on interactions.post_id = posts.post_id
    {%- if incremental %}
    where greatest(interactions.occurred_at, interactions.updated_at) >= {{ lookback_since(where=trusted) }}
        or interactions.handle_hash in {{ changed_identifiers('social_handle') }}
    {%- endif %}
    union all
    select 'receipt:' || receipts.receipt_id, 'pos', 'receipt', 'loyalty_card', receipts.card_number_hash, receipts.purchased_at,
        receipts.total_amount, 0, coalesce(receipt_points.points, 0), null, null
    from {{ ref('stg_loyalty__receipts') }} as receipts
    left join receipt_points on receipts.receipt_id = receipt_points.receipt_id
    where receipts.card_number_hash is not null
    {%- if incremental %}
        and (receipts.purchased_at >= {{ lookback_since(where=trusted) }}
            or receipts.receipt_id in (select receipt_id from {{ ref('stg_loyalty__points') }} where created_at >= {{ lookback_since(where=trusted) }})
            or receipts.card_number_hash in {{ changed_identifiers('loyalty_card') }})
    {%- endif %}
    union all
    -- one touchpoint per reading event (a device sends several metrics at one moment: steps and active minutes,
    -- km driven and trips), named after its first reading id (the primary metric's: '<device>-<yyyymmddhh>')
    select 'iot:' || min(reading_id), 'iot', 'iot_reading', 'iot_device', device_id, recorded_at, 0, 0, 0, null, null
    from {{ ref('stg_iot__readings') }}
    {%- if incremental %}
    where recorded_at >= {{ lookback_since(where=trusted) }} or device_id in {{ changed_identifiers('iot_device') }}
    {%- endif %}
    group by device_id, recorded_at
)

select
    touchpoints.touchpoint_id,
    identities.person_id,
    touchpoints.channel,
    touchpoints.touchpoint_type,
    touchpoints.occurred_at,
    touchpoints.revenue,
    touchpoints.items,
    touchpoints.points,
    touchpoints.campaign_id,
    touchpoints.post_id
from touchpoints
{#- incremental: the rows of an identifier gone from the map come with person_id null; the post-hook deletes them #}
{{ 'left' if incremental else 'inner' }} join identities
    on touchpoints.identifier_type = identities.identifier_type
    and touchpoints.identifier_value = identities.identifier_value
