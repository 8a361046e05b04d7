-- One row per line of an abandoned checkout.
select
    cast(id as {{ string_type() }}) as checkout_line_id,
    cast(checkout_id as {{ string_type() }}) as checkout_id,
    cast(product_id as {{ string_type() }}) as product_id,
    cast(variant_id as {{ string_type() }}) as variant_id,
    sku,
    quantity,
    {{ money('price') }} as unit_price
from {{ source('shop', 'abandoned_checkouts__lines') }}
