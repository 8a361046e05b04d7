select
    quarantine_id,
    record_key as reading_id,
    source_position,
    reason,
    {{ utc('quarantined_at') }} as quarantined_at
from {{ source('iot', 'readings__quarantine') }}
