-- One row per order. `status` is Shopify's financial status (paid, refunded, ...).
select
    cast(id as varchar) as order_id,
    cast(customer_id as varchar) as shop_customer_id,
    financial_status as status,
    fulfillment_status,
    currency,
    {{ money('total_price') }} as total_price,
    financial_status not in ('refunded', 'voided') as is_revenue,
    {{ utc('created_at') }} as ordered_at,
    {{ utc('updated_at') }} as updated_at,
    {{ utc('cancelled_at') }} as cancelled_at
from {{ source('shop', 'orders') }}
