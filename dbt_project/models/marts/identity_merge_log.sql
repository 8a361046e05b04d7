-- One row per change of person between two runs: a merge (a person's records joined an existing person) or
-- a split (records left a person for a new one). Appended run after run, never rebuilt.
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        full_refresh=false,
        on_schema_change='fail',
    )
}}

with changes as (
    select previous_person_id, person_id, person_created_at, assigned_at, count(*) as records
    from {{ ref('int_identity__person_registry') }}
    where previous_person_id is not null and previous_person_id <> person_id
    {% if is_incremental() %}
      and assigned_at > (select coalesce(max(logged_at), cast('1970-01-01 00:00:00+00' as timestamp with time zone)) from {{ this }})
    {% endif %}
    group by previous_person_id, person_id, person_created_at, assigned_at
),

events as (
    select
        assigned_at as logged_at,
        -- records that go to an id created in this run leave a person that goes on: a split
        case when person_created_at = assigned_at then 'split' else 'merge' end as event_type,
        case when person_created_at = assigned_at then previous_person_id else person_id end as person_id,
        case when person_created_at = assigned_at then person_id else previous_person_id end as other_person_id,
        records
    from changes
)

select
    cast(md5(cast(logged_at as varchar) || '|' || event_type || '|' || person_id || '|' || other_person_id) as varchar) as event_id,
    cast(logged_at as timestamp with time zone) as logged_at,
    cast(event_type as varchar) as event_type,
    cast(person_id as varchar) as person_id,
    cast(other_person_id as varchar) as other_person_id,
    cast(records as bigint) as records
from events
