-- One row per touchpoint that belongs to a session: an actor's own (inbound) touchpoints, the actor being
-- the person or, while unknown, the storefront visitor. A session is a maximal run of an actor's
-- touchpoints, across channels, with no gap longer than var('session_timeout_minutes'); with
-- var('session_rules') = 'universal_analytics' it also ends at midnight UTC and when a touchpoint brings a
-- campaign other than the actor's last one (Universal Analytics' campaign cookie).
{%- set ua = var('session_rules') == 'universal_analytics' %}
{%- if var('session_rules') not in ('gap', 'universal_analytics') %}
    {{ exceptions.raise_compiler_error("var session_rules must be 'gap' or 'universal_analytics', got " ~ var('session_rules')) }}
{%- endif %}

with touchpoints as (
    select
        touchpoints.*,
        coalesce(touchpoints.person_id, 'visitor:' || touchpoints.visitor_id) as actor_key,
        events.page_path
    from {{ ref('touchpoints') }} as touchpoints
    left join {{ ref('int_journey__storefront_events') }} as events
        on touchpoints.touchpoint_id = 'storefront:' || events.storefront_event_id
    where not touchpoints.is_outbound
        and touchpoints.touchpoint_type not in ({{ "'" ~ var('session_excluded_touchpoint_types') | join("', '") ~ "'" }})
        and (touchpoints.person_id is not null or touchpoints.visitor_id is not null)
),

ordered as (
    select
        *,
        lag(occurred_at) over actor_time as previous_at,
        last_value(campaign ignore nulls) over (
            partition by actor_key order by occurred_at, touchpoint_id rows between unbounded preceding and 1 preceding
        ) as previous_campaign
    from touchpoints
    window actor_time as (partition by actor_key order by occurred_at, touchpoint_id)
),

starts as (
    select
        *,
        previous_at is null
            or occurred_at > previous_at + interval ({{ var('session_timeout_minutes') }}) minute
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
            partition by actor_key order by occurred_at, touchpoint_id rows between unbounded preceding and current row
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
    row_number() over session_time as position_in_session
from numbered
window session_time as (
    partition by actor_key, session_number order by occurred_at, touchpoint_id
    rows between unbounded preceding and current row
)
