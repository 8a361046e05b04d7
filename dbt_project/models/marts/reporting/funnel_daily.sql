-- One row per UTC day and entry channel with journey sessions: the storefront funnel of those sessions (viewed a
-- product -> added to cart -> started a checkout -> ordered). A session is counted at every step up to the furthest
-- one it reached: an order is a checkout started, a checkout follows a cart, a cart a product view (so each step
-- is at most the one before, whatever the collector lost). Steps: a storefront event about a product (product page,
-- product view, add to cart); an add to cart; the checkout page, an abandoned checkout or an order; a paid online
-- order. Sessions by their start day and entry channel (marts.journey_sessions).
with sessions as (
    select * from {{ ref('journey_sessions') }}
),

session_touchpoints as (
    select
        sessioned.session_id,
        sessioned.touchpoint_type,
        sessioned.page_path,
        sessioned.channel,
        sessioned.is_conversion,
        sessioned.revenue,
        touchpoints.product_id
    from {{ ref('int_journey__touchpoint_sessions') }} as sessioned
    inner join {{ ref('touchpoints') }} as touchpoints on sessioned.touchpoint_id = touchpoints.touchpoint_id
),

flags as (
    select
        session_id,
        bool_or(channel = 'online') as on_storefront,
        bool_or(
            touchpoint_type in ('page_view', 'product_view', 'add_to_cart') and product_id is not null
        ) as viewed_product,
        bool_or(touchpoint_type = 'add_to_cart') as added_to_cart,
        bool_or(
            touchpoint_type in ('abandoned_checkout', 'order') or page_path like '/checkout%'
        ) as started_checkout,
        bool_or(touchpoint_type = 'order' and is_conversion) as ordered,
        sum(case when touchpoint_type = 'order' and is_conversion then 1 else 0 end) as orders,
        sum(case when touchpoint_type = 'order' and is_conversion then revenue else 0 end) as order_revenue
    from session_touchpoints
    group by session_id
),

reached as (
    select
        sessions.session_id,
        cast(timezone('UTC', sessions.session_start) as date) as date_day,
        sessions.entry_channel as channel,
        coalesce(flags.on_storefront, false) as on_storefront,
        coalesce(flags.ordered, false) as reached_order,
        coalesce(flags.ordered or flags.started_checkout, false) as reached_checkout,
        coalesce(flags.ordered or flags.started_checkout or flags.added_to_cart, false) as reached_cart,
        coalesce(flags.ordered or flags.started_checkout or flags.added_to_cart or flags.viewed_product, false)
            as reached_product,
        coalesce(flags.orders, 0) as orders,
        coalesce(flags.order_revenue, 0) as order_revenue
    from sessions
    left join flags on sessions.session_id = flags.session_id
)

select
    date_day,
    cast(channel as varchar) as channel,
    count(*) as sessions,
    count(*) filter (where on_storefront) as storefront_sessions,
    count(*) filter (where reached_product) as product_view_sessions,
    count(*) filter (where reached_cart) as add_to_cart_sessions,
    count(*) filter (where reached_checkout) as checkout_sessions,
    count(*) filter (where reached_order) as order_sessions,
    cast(sum(orders) as bigint) as orders,
    {{ money('sum(order_revenue)') }} as order_revenue
from reached
group by date_day, channel
