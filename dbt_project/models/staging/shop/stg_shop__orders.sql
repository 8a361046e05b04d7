select
    cast(id as varchar) as order_id,
    cast(customer_id as varchar) as shop_customer_id,
    status,
    currency,
    {{ money('total_price') }} as total_price,
    status <> 'refunded' as is_revenue,
    {{ utc('created_at') }} as ordered_at,
    {{ utc('updated_at') }} as updated_at,
    _dlt_id
from {{ source('shop', 'orders') }}
