-- One row per live shop customer (deleted and redacted customers are hard-deleted in raw).
select
    cast(id as varchar) as shop_customer_id,
    email as email_raw,
    {{ normalize_email('email') }} as email_normalized,
    {{ normalize_phone('phone') }} as phone_normalized,
    {{ normalize_handle('social_handle') }} as social_handle_normalized,
    {{ keyed_hash(normalize_email('email')) }} as email_hash,
    {{ keyed_hash(normalize_phone('phone')) }} as phone_hash,
    {{ keyed_hash(normalize_handle('social_handle')) }} as social_handle_hash,
    first_name,
    last_name,
    cast(postcode as varchar) as postcode,
    cast(city as varchar) as city,
    accepts_marketing,
    -- when the customer last decided on e-mail marketing (null: never asked, no decision); confirmed_opt_in = double opt-in
    cast(accepts_marketing_updated_at as timestamptz) as accepts_marketing_updated_at,
    marketing_opt_in_level,
    {{ utc('created_at') }} as created_at,
    {{ utc('updated_at') }} as updated_at
from {{ source('shop', 'customers') }}
