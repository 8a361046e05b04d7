-- One row per person and product they bought online (shop order lines of orders not cancelled; refunded ones
-- count: the person has had it). The real-time offers leave these products out for the person. Ids only.
select
    map.person_id,
    lines.product_id,
    cast(count(distinct orders.order_id) as bigint) as orders,
    cast(min(orders.ordered_at) as timestamptz) as first_ordered_at,
    cast(max(orders.ordered_at) as timestamptz) as last_ordered_at
from {{ ref('stg_shop__order_lines') }} as lines
inner join {{ ref('stg_shop__orders') }} as orders on orders.order_id = lines.order_id
inner join {{ ref('int_identity__identifier_map') }} as map
    on map.identifier_type = 'shop_customer'
    and map.identifier_value = orders.shop_customer_id
where orders.cancelled_at is null
    and lines.product_id is not null
group by map.person_id, lines.product_id
