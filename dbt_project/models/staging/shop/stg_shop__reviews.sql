-- One row per product review (the reviews app beside the shop), its newest version. `text` is what the
-- reviewer wrote (free text: personal data, read only by the sentiment model, never passed on downstream).
select
    cast(id as varchar) as review_id,
    cast(customer_id as varchar) as shop_customer_id,
    cast(product_id as varchar) as product_id,
    cast(rating as integer) as rating,
    cast(title as varchar) as title,
    cast(body as varchar) as text,
    cast(created_at as timestamptz) as created_at,  -- timestamptz, as issue 8's interface fixes (other staging: utc())
    cast(updated_at as timestamptz) as updated_at
from {{ source('shop', 'reviews') }}
