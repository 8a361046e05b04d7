select
    card_number,
    {{ keyed_hash('card_number') }} as card_number_hash,
    member_id as loyalty_member_id,
    status as card_status,
    cast(issued_at as timestamptz) as issued_at
from {{ source('loyalty', 'cards') }}
