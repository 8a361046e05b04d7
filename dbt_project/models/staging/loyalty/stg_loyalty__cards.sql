select
    card_number,
    member_id as loyalty_member_id,
    status as card_status,
    {{ utc('issued_at') }} as issued_at
from {{ source('loyalty', 'cards') }}
