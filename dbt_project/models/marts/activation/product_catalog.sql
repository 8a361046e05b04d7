-- One row per product of the shop's catalogue: its category, list price (its cheapest variant), the units in stock
-- over its variants as of the latest shop load, and its price band within the category (what the offers' fallback
-- similarity compares). The real-time offers read the stock from here, in the serving copy.
with variants as (
    select
        product_id,
        min(price) as price,
        sum(greatest(coalesce(inventory_quantity, 0), 0)) as inventory_quantity,
        count(*) as variants
    from {{ ref('stg_shop__product_variants') }}
    group by product_id
)

select
    products.product_id,
    products.title as product_title,
    products.category,
    cast(variants.price as decimal(12, 2)) as price,
    cast(ntile({{ var('similarity_price_bands') }}) over (
        partition by products.category order by variants.price, products.product_id
    ) as integer) as price_band,
    cast(coalesce(variants.inventory_quantity, 0) as bigint) as inventory_quantity,
    coalesce(variants.inventory_quantity, 0) > 0 and coalesce(products.status, 'active') = 'active' as in_stock,
    cast(products.updated_at as timestamptz) as updated_at
from {{ ref('stg_shop__products') }} as products
inner join variants on variants.product_id = products.product_id
