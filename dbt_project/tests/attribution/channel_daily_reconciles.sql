{{ config(meta={'dagster': {'ref': {'name': 'channel_daily'}}}) }}  {#- the Dagster asset this check belongs to #}
-- marts.channel_daily against its sources, day by day: sessions against marts.journey_sessions, conversions and
-- revenue against the conversions of marts.touchpoints (exact: decimals), and, for every model, the attributed
-- conversions and revenue against the same conversions (within float tolerance: 1e-6 of a conversion, a cent).
-- Returns each day where something does not add up.
with daily as (
    select
        date_day,
        sum(sessions) as sessions,
        sum(conversions) as conversions,
        sum(revenue) as revenue,
        {%- for model in attribution_models() %}
        sum(attributed_conversions_{{ model }}) as attributed_conversions_{{ model }},
        sum(attributed_revenue_{{ model }}) as attributed_revenue_{{ model }}
        {{- "," if not loop.last }}
        {%- endfor %}
    from {{ ref('channel_daily') }}
    group by date_day
),

sessions as (
    select cast(session_start as date) as date_day, count(*) as sessions
    from {{ ref('journey_sessions') }}
    group by 1
),

conversions as (
    select cast(occurred_at as date) as date_day, count(*) as conversions, sum(revenue) as revenue
    from {{ ref('touchpoints') }}
    where is_conversion
    group by 1
)

select *
from daily
full outer join sessions using (date_day)
full outer join conversions using (date_day)
where coalesce(daily.sessions, 0) != coalesce(sessions.sessions, 0)
    or coalesce(daily.conversions, 0) != coalesce(conversions.conversions, 0)
    or coalesce(daily.revenue, 0) != coalesce(conversions.revenue, 0)
    {%- for model in attribution_models() %}
    or abs(coalesce(daily.attributed_conversions_{{ model }}, 0) - coalesce(conversions.conversions, 0)) > 1e-6
    or abs(coalesce(daily.attributed_revenue_{{ model }}, 0) - coalesce(cast(conversions.revenue as double precision), 0)) > 0.01
    {%- endfor %}
