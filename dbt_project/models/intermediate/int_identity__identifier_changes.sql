-- Which identifier -> person rows changed in this dbt invocation: the identifier map as the incremental models
-- last saw it (one row per identifier, person_id null once the identifier is gone), each row stamped with the
-- invocation that last changed it (`changed_in`). An incremental model built in the same invocation rebuilds
-- the rows of every identifier with changed_in = invocation_id whatever their age: a person_id of an old
-- touchpoint changes when identities merge or split later, which no lookback window on event time finds.
-- Only changed rows are written; --full-refresh stamps them all.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['identifier_type', 'identifier_value'],
        on_schema_change='fail',
    )
}}

with current_map as (
    select identifier_type, identifier_value, {{ any_value('person_id') }} as person_id
    from {{ ref('int_identity__identifier_map') }}
    group by identifier_type, identifier_value
)

{% if is_incremental() %}
select
    coalesce(now.identifier_type, before.identifier_type) as identifier_type,
    coalesce(now.identifier_value, before.identifier_value) as identifier_value,
    now.person_id,
    '{{ invocation_id }}' as changed_in
from current_map as now
full outer join {{ this }} as before
    on now.identifier_type = before.identifier_type and now.identifier_value = before.identifier_value
where (now.identifier_type is not null and (before.identifier_type is null or now.person_id is distinct from before.person_id))
    or (now.identifier_type is null and before.person_id is not null)  -- gone since
{% else %}
select identifier_type, identifier_value, person_id, '{{ invocation_id }}' as changed_in
from current_map
{% endif %}
