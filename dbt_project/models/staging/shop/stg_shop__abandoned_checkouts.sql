-- One row per abandoned checkout.
select
    cast(id as varchar) as checkout_id,
    cast(customer_id as varchar) as shop_customer_id,
    {{ normalize_email('email') }} as email_normalized,
    {{ keyed_hash(normalize_email('email')) }} as email_hash,
    {{ money('total_price') }} as total_price,
    {{ utc('created_at') }} as abandoned_at,
    {{ utc('updated_at') }} as updated_at
from {{ source('shop', 'abandoned_checkouts') }}
