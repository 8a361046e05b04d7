-- One row per product of the shop's catalogue (Shopify product), its newest version.
select
    cast(id as varchar) as product_id,
    cast(title as varchar) as title,
    cast(product_type as varchar) as category,
    cast(status as varchar) as status,
    {{ utc('created_at') }} as created_at,
    {{ utc('updated_at') }} as updated_at
from {{ source('shop', 'products') }}
