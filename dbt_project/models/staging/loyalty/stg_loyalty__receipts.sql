select
    receipt_id,
    card_number,
    {{ keyed_hash('card_number') }} as card_number_hash,
    store_id,
    {{ money('total_amount') }} as total_amount,
    cast(purchased_at as timestamptz) as purchased_at
from {{ source('loyalty', 'receipts') }}
