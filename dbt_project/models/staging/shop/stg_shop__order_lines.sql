-- One row per order line (Shopify line item), with the order it belongs to.
select
    cast(id as varchar) as order_line_id,
    cast(order_id as varchar) as order_id,
    cast(product_id as varchar) as product_id,
    cast(variant_id as varchar) as variant_id,
    sku,
    quantity,
    {{ money('price') }} as unit_price,
    {{ money('quantity * price') }} as line_amount
from {{ source('shop', 'orders__lines') }}
