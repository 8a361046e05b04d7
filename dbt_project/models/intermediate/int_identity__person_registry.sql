-- The person registry: which person_id each record has, kept across runs (never rebuilt by --full-refresh).
-- A fresh registry names each component by a keyed hash of its smallest record (int_identity__components).
-- Afterwards each previous person_id goes with the component that holds most of its records (a record that
-- joins keeps its person's id; a split leaves the id with the largest part); when a component inherits several
-- ids (a merge), the oldest survives, then the one with more records there. Components that inherit no id get
-- a new one. A record whose person changes keeps the id it had (previous_person_id) and the time (assigned_at):
-- identity_merge_log is written from those. A record that left its source (an erased customer) leaves the
-- registry too.
{{
    config(
        materialized='incremental',
        unique_key='node',
        incremental_strategy='delete+insert',
        full_refresh=false,
        on_schema_change='append_new_columns',
        post_hook="{{ delete_from(this, 'node not in (select node from ' ~ ref('int_identity__components') ~ ' where is_record)') }}",
    )
}}
{%- set now = "cast('" ~ run_started_at.isoformat() ~ "' as timestamp with time zone)" %}

with current_records as (
    select node, component, fresh_person_id, salted_person_id
    from {{ ref('int_identity__components') }}
    where is_record
)

{% if is_incremental() %}
,

previous as (
    select node, person_id, person_created_at, previous_person_id, assigned_at from {{ this }}
),

-- the records each previous person has in each current component
claims as (
    select current_records.component, previous.person_id, min(previous.person_created_at) as person_created_at,
        count(*) as records
    from current_records
    inner join previous on previous.node = current_records.node
    group by current_records.component, previous.person_id
),

heirs as (
    select component, person_id, person_created_at, records
    from (
        select claims.*, row_number() over (partition by person_id order by records desc, component) as rank_for_person
        from claims
    ) as ranked
    where rank_for_person = 1
),

survivors as (
    select component, person_id, person_created_at
    from (
        select heirs.*,
            row_number() over (partition by component order by person_created_at, records desc, person_id) as rank_in_component
        from heirs
    ) as ranked
    where rank_in_component = 1
),

assigned as (
    select current_records.node,
        coalesce(survivors.person_id, current_records.salted_person_id) as person_id,
        coalesce(survivors.person_created_at, {{ now }}) as person_created_at
    from current_records
    left join survivors on survivors.component = current_records.component
)

select
    assigned.node,
    assigned.person_id,
    assigned.person_created_at,
    case when previous.person_id is null or previous.person_id = assigned.person_id
        then previous.previous_person_id else previous.person_id end as previous_person_id,
    case when previous.person_id is null or previous.person_id <> assigned.person_id
        then {{ now }} else previous.assigned_at end as assigned_at
from assigned
left join previous on previous.node = assigned.node

{% else %}

select
    node,
    fresh_person_id as person_id,
    {{ now }} as person_created_at,
    cast(null as varchar) as previous_person_id,
    {{ now }} as assigned_at
from current_records

{% endif %}
