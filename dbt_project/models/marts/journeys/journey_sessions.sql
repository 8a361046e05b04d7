-- One row per journey session (see int_journey__touchpoint_sessions for what a session is).
-- Incremental: the sessions whose touchpoints were sessionized again in this dbt invocation (and any the table
-- does not have yet) are replaced; a post-hook removes sessions that no longer exist (merged, moved to a
-- person by stitching).
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='session_id',
        on_schema_change='fail',
        post_hook="{{ delete_from(this, 'session_id not in (select session_id from ' ~ ref('int_journey__touchpoint_sessions') ~ ')') }}",
    )
}}

with touchpoints as (
    select * from {{ ref('int_journey__touchpoint_sessions') }}
    {%- if is_incremental() %}
    where session_id in (
        select session_id from {{ ref('int_journey__touchpoint_sessions') }} where sessionized_in = '{{ invocation_id }}'
        union
        select session_id from {{ ref('int_journey__touchpoint_sessions') }}
        where session_id not in (select session_id from {{ this }})
    )
    {%- endif %}
)

select
    cast(session_id as varchar) as session_id,
    cast({{ any_value('person_id') }} as varchar) as person_id,
    cast({{ arg_min_by('visitor_id', ['position_in_session'], where='visitor_id is not null') }} as varchar) as visitor_id,
    cast(min(occurred_at) as timestamptz) as session_start,
    cast(max(occurred_at) as timestamptz) as session_end,
    cast(count(*) as integer) as touchpoints,
    cast(count(distinct channel) as integer) as channels,
    cast({{ ordered_string_agg('channel', "','", 'channel', distinct=true) }} as varchar) as channel_list,
    cast({{ arg_min_by('channel', ['position_in_session'], nulls=true) }} as varchar) as entry_channel,
    cast({{ arg_min_by('source', ['position_in_session'], nulls=true) }} as varchar) as entry_source,
    cast({{ arg_min_by('medium', ['position_in_session'], nulls=true) }} as varchar) as entry_medium,
    cast({{ arg_min_by('campaign', ['position_in_session'], nulls=true) }} as varchar) as entry_campaign,
    cast({{ arg_min_by('page_path', ['position_in_session'], where='page_path is not null') }} as varchar) as landing_page,
    bool_or(is_conversion) as converted,
    {{ money('sum(revenue)') }} as revenue
from touchpoints
group by session_id
