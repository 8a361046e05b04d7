-- Typed at the source: value is a double, recorded_at a timestamptz (UTC).
-- Readings of a device that is not in the registry yet (held in raw) or no longer opted in stay out of the models.
select
    readings.reading_id,
    readings.device_id,
    readings.metric,
    readings.value,
    {{ utc('readings.recorded_at') }} as recorded_at
from {{ source('iot', 'readings') }} as readings
inner join {{ source('iot', 'devices') }} as devices
    on readings.device_id = devices.device_id
where devices.opted_in  -- a device that opted out since: its readings leave the models at once
