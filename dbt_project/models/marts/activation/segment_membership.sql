-- One row per change of a person's membership in a segment: each build evaluates every segment of
-- config.meta.segments (models/marts/activation/_activation__models.yml) over
-- intermediate.int_activation__segment_inputs and appends `entered` for members without an open membership and
-- `exited` for open memberships whose person no longer matches (or is gone). Incremental and append-only: the
-- history survives builds; `--full-refresh` starts it over (every current member enters again), and
-- `journey forget` deletes an erased person's rows (ingestion.erasure.delete_person_ids: every base table of
-- marts with a person_id).
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
    )
}}
{%- set segments = activation_meta('segment_membership').get('segments', []) %}

with inputs as (
    select * from {{ ref('int_activation__segment_inputs') }}
),

as_of as (
    select * from {{ ref('int_value__as_of') }}
),

members as (
    {%- for segment in segments %}
    select '{{ segment.segment_id }}' as segment_id, person_id from inputs where coalesce(({{ segment.where }}), false)
    {{ 'union all' if not loop.last }}
    {%- else %}
    select cast(null as varchar) as segment_id, person_id from inputs where false
    {%- endfor %}
),

open_memberships as (
    {%- if is_incremental() %}
    select segment_id, person_id
    from (
        select
            *,
            row_number() over (partition by segment_id, person_id order by evaluated_at desc nulls last) as newest
        from {{ this }}
    ) as memberships
    where newest = 1 and event = 'entered'
    {%- else %}
    select cast(null as varchar) as segment_id, cast(null as varchar) as person_id where false
    {%- endif %}
),

entered as (
    select segment_id, person_id from members
    except
    select segment_id, person_id from open_memberships
),

exited as (
    select segment_id, person_id from open_memberships
    except
    select segment_id, person_id from members
),

changes as (
    select segment_id, person_id, 'entered' as event from entered
    union all
    select segment_id, person_id, 'exited' as event from exited
)

select
    cast(changes.segment_id as varchar) as segment_id,
    cast(changes.person_id as varchar) as person_id,
    cast(changes.event as varchar) as event,
    cast('{{ run_started_at.isoformat() }}' as timestamptz) as evaluated_at,
    cast('{{ invocation_id }}' as varchar) as evaluation_id,
    as_of.as_of_at as as_of,
    as_of.as_of_date
from changes
cross join as_of
