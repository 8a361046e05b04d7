select
    points_txn_id,
    member_id as loyalty_member_id,
    receipt_id,
    points,
    reason,
    cast(created_at as timestamptz) as created_at
from {{ source('loyalty', 'points') }}
