select
    file_name,
    line_number,
    reason
from {{ source('iot', 'readings_quarantine') }}
