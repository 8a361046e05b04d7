select
    id as campaign_id,
    name as campaign_name,
    subject,
    {{ utc('send_time') }} as sent_at,
    status as campaign_status,
    {{ utc('updated_at') }} as updated_at
from {{ source('esp', 'campaigns') }}
