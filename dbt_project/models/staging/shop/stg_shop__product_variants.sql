-- One row per product variant (Shopify `variants`), with its price and stock.
select
    cast(id as {{ string_type() }}) as variant_id,
    cast(product_id as {{ string_type() }}) as product_id,
    sku,
    {{ money('price') }} as price,
    cast(inventory_quantity as bigint) as inventory_quantity,
    {{ utc('updated_at') }} as updated_at
from {{ source('shop', 'products__variants') }}
