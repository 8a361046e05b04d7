select
    receipt_id,
    card_number,
    store_id,
    {{ money('total_amount') }} as total_amount,
    {{ utc('purchased_at') }} as purchased_at
from {{ source('loyalty', 'receipts') }}
