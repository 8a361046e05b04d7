select
    lines.line_id as order_line_id,
    orders.order_id,
    lines.product_id,
    lines.sku,
    lines.quantity,
    {{ money('lines.unit_price') }} as unit_price,
    {{ money('lines.quantity * lines.unit_price') }} as line_amount
from {{ source('shop', 'orders__lines') }} as lines
inner join {{ ref('stg_shop__orders') }} as orders
    on lines._dlt_root_id = orders._dlt_id
