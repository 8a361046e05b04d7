-- One row per product of the shop's catalogue (Shopify product), its newest version.
select
    cast(id as {{ string_type() }}) as product_id,
    cast(title as {{ string_type() }}) as title,
    cast(product_type as {{ string_type() }}) as category,
    cast(status as {{ string_type() }}) as status,
    {{ utc('created_at') }} as created_at,
    {{ utc('updated_at') }} as updated_at
from {{ source('shop', 'products') }}
