-- One row per line of an abandoned checkout.
select
    cast(id as varchar) as checkout_line_id,
    cast(checkout_id as varchar) as checkout_id,
    cast(product_id as varchar) as product_id,
    cast(variant_id as varchar) as variant_id,
    sku,
    quantity,
    {{ money('price') }} as unit_price
from {{ source('shop', 'abandoned_checkouts__lines') }}
