-- The consent history: every registry statement (a snapshot row or a change row), one per device and moment.
select
    device_id,
    opted_in,
    {{ utc('changed_at') }} as changed_at
from {{ source('iot', 'device_consents') }}
