-- One row per order line (Shopify line item), with the order it belongs to.
select
    cast(id as {{ string_type() }}) as order_line_id,
    cast(order_id as {{ string_type() }}) as order_id,
    cast(product_id as {{ string_type() }}) as product_id,
    cast(variant_id as {{ string_type() }}) as variant_id,
    sku,
    quantity,
    {{ money('price') }} as unit_price,
    {{ money('quantity * price') }} as line_amount
from {{ source('shop', 'orders__lines') }}
