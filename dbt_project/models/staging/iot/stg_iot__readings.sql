-- Typed at the source: value is a double, recorded_at a timestamptz (UTC).
-- Only readings recorded while their device's consent held (macro iot_consent_periods over the consent history):
-- a reading after a withdrawal, before a (late) opt-in, or of a device not in the registry yet (held in raw) stays
-- out of the models, also when the withdrawal arrived after the reading was loaded.
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
