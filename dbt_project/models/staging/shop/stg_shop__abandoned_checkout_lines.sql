select
    lines.line_id as checkout_line_id,
    checkouts.checkout_id,
    lines.product_id,
    lines.sku,
    lines.quantity,
    {{ money('lines.unit_price') }} as unit_price
from {{ source('shop', 'abandoned_checkouts__lines') }} as lines
inner join {{ ref('stg_shop__abandoned_checkouts') }} as checkouts
    on lines._dlt_root_id = checkouts._dlt_id
