-- One row per touchpoint that belongs to a journey session, with its session. A session is a maximal run of
-- one actor's touchpoints (int_journey__actor_touchpoints), across channels, with no gap longer than
-- var('session_timeout_minutes'); with var('session_rules') = 'universal_analytics' it also ends at midnight
-- UTC and when a touchpoint brings a campaign other than the actor's last one (UA's campaign cookie).
--
-- Incremental: a run sessionizes again, over their whole history, the actors with a touchpoint in the
-- lookback window (var('session_lookback_hours') before the newest touchpoint sessionized so far) and every
-- actor whose touchpoints changed since (new ones, late ones of any age, ones moved to another actor by
-- stitching or identity resolution, ones changed, e.g. an order refunded, ones gone), so the result equals a
-- full refresh. Rows are replaced by touchpoint_id; a post-hook removes touchpoints that are gone.
-- A change of the session rules or vars needs --full-refresh.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='touchpoint_id',
        on_schema_change='fail',
        post_hook="{{ delete_from(this, 'touchpoint_id not in (select touchpoint_id from ' ~ ref('int_journey__actor_touchpoints') ~ ')') }}",
    )
}}
{%- set ua = var('session_rules') == 'universal_analytics' %}
{%- if var('session_rules') not in ('gap', 'universal_analytics') %}
    {{ exceptions.raise_compiler_error("var session_rules must be 'gap' or 'universal_analytics', got " ~ var('session_rules')) }}
{%- endif %}

with actor_touchpoints as (
    select * from {{ ref('int_journey__actor_touchpoints') }}
),

{% if is_incremental() %}
{%- set compared = ['actor_key', 'person_id', 'visitor_id', 'occurred_at', 'touchpoint_type', 'channel', 'source',
                    'medium', 'campaign', 'page_path', 'is_conversion', 'revenue'] %}
previous as (
    select touchpoint_id, {{ compared | join(', ') }} from {{ this }}
),

changed_actors as (
    select actor_key from actor_touchpoints
    where occurred_at >= (select max(occurred_at) from previous) - interval '{{ var('session_lookback_hours') }} hours'
    union
    select coalesce(now.actor_key, before.actor_key)
    from actor_touchpoints as now
    full outer join previous as before on now.touchpoint_id = before.touchpoint_id
    where now.touchpoint_id is null
        or before.touchpoint_id is null
        {%- for column in compared %}
        or now.{{ column }} is distinct from before.{{ column }}
        {%- endfor %}
    union
    select before.actor_key  -- the actor a touchpoint moved away from
    from previous as before
    inner join actor_touchpoints as now on now.touchpoint_id = before.touchpoint_id
    where now.actor_key <> before.actor_key
),

touchpoints as (
    select * from actor_touchpoints
    where actor_key in (select actor_key from changed_actors)
),
{% else %}
touchpoints as (
    select * from actor_touchpoints
),
{% endif %}

ordered as (
    select
        *,
        lag(occurred_at) over actor_time as previous_at,
        {{ value_ignoring_nulls(
            'last', 'campaign',
            'partition by actor_key order by occurred_at, same_time_rank, touchpoint_id
            rows between unbounded preceding and 1 preceding'
        ) }} as previous_campaign
    from touchpoints
    window actor_time as (partition by actor_key order by occurred_at, same_time_rank, touchpoint_id)
),

starts as (
    select
        *,
        previous_at is null
            or occurred_at > previous_at + interval '{{ var('session_timeout_minutes') }} minutes'
            {%- if ua %}
            or cast(occurred_at as date) <> cast(previous_at as date)
            or (campaign is not null and campaign is distinct from previous_campaign)
            {%- endif %}
            as starts_session
    from ordered
),

numbered as (
    select
        *,
        sum(case when starts_session then 1 else 0 end) over (
            partition by actor_key order by occurred_at, same_time_rank, touchpoint_id rows between unbounded preceding and current row
        ) as session_number
    from starts
)

select
    'ses_' || substr(md5(actor_key || '|' || first_value(touchpoint_id) over session_time), 1, 24) as session_id,
    touchpoint_id,
    actor_key,
    person_id,
    visitor_id,
    occurred_at,
    touchpoint_type,
    channel,
    source,
    medium,
    campaign,
    page_path,
    is_conversion,
    revenue,
    row_number() over session_time as position_in_session,
    '{{ invocation_id }}' as sessionized_in
from numbered
window session_time as (
    partition by actor_key, session_number order by occurred_at, same_time_rank, touchpoint_id
    rows between unbounded preceding and current row
)
