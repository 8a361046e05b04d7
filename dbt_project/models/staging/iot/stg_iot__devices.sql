-- Devices whose owner has not opted in arrive without any owner data (the source strips it).
select
    device_id,
    device_type,
    case when opted_in then {{ normalize_email('owner_email') }} end as owner_email_normalized,
    case when opted_in then {{ keyed_hash(normalize_email('owner_email')) }} end as owner_email_hash,
    opted_in,
    {{ utc('registered_at') }} as registered_at,
    {{ utc('updated_at') }} as updated_at
from {{ source('iot', 'devices') }}
