-- One row per product variant (Shopify `variants`), with its price and stock.
select
    cast(id as varchar) as variant_id,
    cast(product_id as varchar) as product_id,
    sku,
    {{ money('price') }} as price,
    cast(inventory_quantity as bigint) as inventory_quantity,
    {{ utc('updated_at') }} as updated_at
from {{ source('shop', 'products__variants') }}
