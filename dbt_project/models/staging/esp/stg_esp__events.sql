select
    id as email_event_id,
    campaign_id,
    {{ normalize_email('email') }} as email_normalized,
    event_type,
    {{ utc('occurred_at') }} as occurred_at
from {{ source('esp', 'events') }}
