select
    quarantine_id,
    source_position,
    reason,
    {{ utc('quarantined_at') }} as quarantined_at
from {{ source('history', 'orders__quarantine') }}
