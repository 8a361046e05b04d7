-- One row per consented device and UTC day with a reading recorded while its consent held, up to the as-of day.
-- Readings come from staging.stg_iot__readings, which keeps only those of devices whose consent holds now, inside a
-- consent period: a device that withdrew has no days here (its readings are deleted from raw), nothing recorded
-- before an opt-in reaches this mart. The person is linked only while the consent holds now.
--
-- Incremental (macros/incremental.sql), replaced by device and day: a run rebuilds the days in the lookback window
-- (var lookback_days before the newest day built) and every day of a device whose registry row or consent changed
-- in that window or whose person changed in this run; a post-hook deletes device-days that are gone (readings
-- deleted on a withdrawal).
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['device_id', 'day'],
        on_schema_change='fail',
        post_hook="{{ delete_from(this, \"device_id || '|' || cast(day as varchar) not in (select device_id || '|' || cast(cast(timezone('UTC', recorded_at) as date) as varchar) from \" ~ ref('stg_iot__readings') ~ ')') }}",
    )
}}
{%- set incremental = is_incremental() %}
-- depends_on: {{ ref('int_identity__identifier_changes') }}
-- depends_on: {{ ref('stg_iot__device_consents') }}
with as_of as (
    select as_of_date from {{ ref('int_value__as_of') }}
),

readings as (
    select
        device_id,
        metric,
        value,
        recorded_at,
        cast(timezone('UTC', recorded_at) as date) as day
    from {{ ref('stg_iot__readings') }}
    {%- if incremental %}
    where cast(timezone('UTC', recorded_at) as date) >= (select max(day) - {{ var('lookback_days', 3) | int }} from {{ this }})
        or device_id in {{ changed_identifiers('iot_device') }}
        or device_id in (
            select device_id from {{ ref('stg_iot__devices') }}
            where updated_at >= {{ lookback_since('last_seen_at') }}
            union all
            select device_id from {{ ref('stg_iot__device_consents') }}
            where changed_at >= {{ lookback_since('last_seen_at') }}
        )
    {%- endif %}
),

daily as (
    select
        device_id,
        day,
        cast(sum(value) filter (where metric = 'steps') as bigint) as steps,
        cast(sum(value) filter (where metric = 'active_minutes') as bigint) as active_minutes,
        cast(sum(value) filter (where metric = 'km_driven') as double precision) as km_driven,
        cast(sum(value) filter (where metric = 'trips') as bigint) as trips,
        count(distinct recorded_at) as readings,
        max(recorded_at) as last_seen_at
    from readings
    where day <= (select as_of_date from as_of)
    group by device_id, day
),

consented_now as (  -- devices whose consent holds now (an open period)
    select distinct device_id
    from {{ ref('int_iot__device_consent_periods') }}
    where valid_to is null
),

people as (
    select
        identifier_value as device_id,
        person_id
    from {{ ref('int_identity__identifier_map') }}
    where identifier_type = 'iot_device'
)

select
    cast(daily.device_id as varchar) as device_id,
    cast(daily.day as date) as day,
    cast(devices.device_type as varchar) as device_type,
    cast(case when consented_now.device_id is not null then people.person_id end as varchar) as person_id,
    daily.steps,
    daily.active_minutes,
    daily.km_driven,
    daily.trips,
    cast(daily.readings as bigint) as readings,
    cast(daily.last_seen_at as timestamptz) as last_seen_at
from daily
inner join {{ ref('stg_iot__devices') }} as devices on daily.device_id = devices.device_id
left join consented_now on daily.device_id = consented_now.device_id
left join people on daily.device_id = people.device_id
