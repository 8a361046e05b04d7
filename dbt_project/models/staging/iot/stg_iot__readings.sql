-- Typed at the source: value is a double, recorded_at a timestamptz (UTC).
-- Only readings of devices whose consent holds now (an open period), recorded while their consent held (macro
-- iot_consent_periods over the consent history): the IoT source deletes the others from raw on withdrawal; a
-- reading of a device not in the registry yet (held in raw) stays out of the models, and so does one of a device
-- that withdrew, in the moment between the withdrawal's arrival and the deleting load.
with periods as (
    {{ iot_consent_periods(source('iot', 'device_consents')) }}
)

select
    readings.reading_id,
    readings.device_id,
    readings.metric,
    readings.value,
    {{ utc('readings.recorded_at') }} as recorded_at
from {{ source('iot', 'readings') }} as readings
where exists (
    select 1
    from periods
    where periods.device_id = readings.device_id
        and readings.recorded_at >= periods.valid_from
        and (periods.valid_to is null or readings.recorded_at < periods.valid_to)
)
    and exists (
        select 1
        from periods
        where periods.device_id = readings.device_id
            and periods.valid_to is null
    )
