select
    id as storefront_event_id,
    cast(customer_id as varchar) as shop_customer_id,
    session_id,
    event_type,
    product_id,
    {{ utc('occurred_at') }} as occurred_at
from {{ source('shop', 'events') }}
