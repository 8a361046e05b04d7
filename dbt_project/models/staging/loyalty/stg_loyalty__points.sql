select
    points_txn_id,
    member_id as loyalty_member_id,
    receipt_id,
    points,
    reason,
    {{ utc('created_at') }} as created_at
from {{ source('loyalty', 'points') }}
