select
    receipt_id,
    card_number,
    store_id,
    {{ money('total_amount') }} as total_amount,
    cast(purchased_at as timestamptz) as purchased_at
from {{ source('loyalty', 'receipts') }}
