select
    member_id as loyalty_member_id,
    {{ normalize_email('email') }} as email_normalized,
    {{ normalize_phone('phone') }} as phone_normalized,
    {{ keyed_hash(normalize_email('email')) }} as email_hash,
    {{ keyed_hash(normalize_phone('phone')) }} as phone_hash,
    first_name,
    last_name,
    cast(postcode as varchar) as postcode,
    cast(city as varchar) as city,
    cast(birth_year as integer) as birth_year,
    marketing_opt_in,
    cast(joined_at as timestamptz) as joined_at,
    cast(updated_at as timestamptz) as updated_at
from {{ source('loyalty', 'members') }}
