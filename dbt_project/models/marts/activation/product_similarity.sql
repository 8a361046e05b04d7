-- Up to var('similarity_top_n') similar products per product of the catalogue, best first.
-- co_purchase: item-to-item cosine over online orders (not cancelled): orders with both / sqrt(orders with one x
-- orders with the other), for pairs bought together in at least var('similarity_min_co_orders') orders.
-- category_price_band: a product with fewer co-purchase neighbours than the top n is filled up with products of
-- its category and price band (marts.product_catalog), closest list price first, scored 1 - |price gap| / the
-- higher price (in [0, 1); not comparable with cosine: every co_purchase neighbour ranks first).
with baskets as (
    select distinct lines.order_id, lines.product_id
    from {{ ref('stg_shop__order_lines') }} as lines
    inner join {{ ref('stg_shop__orders') }} as orders on orders.order_id = lines.order_id
    inner join {{ ref('product_catalog') }} as catalog on catalog.product_id = lines.product_id
    where orders.cancelled_at is null
),

product_orders as (
    select product_id, count(*) as orders from baskets group by product_id
),

pairs as (
    select a.product_id, b.product_id as similar_product_id, count(*) as co_orders
    from baskets as a
    inner join baskets as b on b.order_id = a.order_id and b.product_id <> a.product_id
    group by a.product_id, b.product_id
),

co_purchase as (
    select
        pairs.product_id,
        pairs.similar_product_id,
        pairs.co_orders / sqrt(a.orders * b.orders) as score,
        'co_purchase' as method,
        1 as method_order
    from pairs
    inner join product_orders as a on a.product_id = pairs.product_id
    inner join product_orders as b on b.product_id = pairs.similar_product_id
    where pairs.co_orders >= {{ var('similarity_min_co_orders') }}
),

fallback as (
    select
        a.product_id,
        b.product_id as similar_product_id,
        1 - abs(a.price - b.price) / greatest(a.price, b.price) as score,
        'category_price_band' as method,
        2 as method_order
    from {{ ref('product_catalog') }} as a
    inner join {{ ref('product_catalog') }} as b
        on b.category = a.category
        and b.price_band = a.price_band
        and b.product_id <> a.product_id
    where (select count(*) from co_purchase where co_purchase.product_id = a.product_id) < {{ var('similarity_top_n') }}
        and not exists (
            select 1 from co_purchase
            where co_purchase.product_id = a.product_id and co_purchase.similar_product_id = b.product_id
        )
),

candidates as (
    select * from co_purchase
    union all
    select * from fallback
),

ranked as (
    select
        *,
        row_number() over (
            partition by product_id order by method_order, score desc nulls last, similar_product_id
        ) as rank
    from candidates
)

select
    cast(product_id as varchar) as product_id,
    cast(similar_product_id as varchar) as similar_product_id,
    cast(score as double precision) as score,
    cast(method as varchar) as method,
    cast(rank as integer) as rank
from ranked
where rank <= {{ var('similarity_top_n') }}
