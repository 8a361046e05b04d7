select
    id as campaign_id,
    name as campaign_name,
    subject,
    {{ utc('sent_at') }} as sent_at
from {{ source('esp', 'campaigns') }}
