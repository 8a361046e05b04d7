-- One row per day, channel, source and medium. Each measure is keyed by its own date and dimensions:
--   sessions, people: the session's start date (UTC) and its entry channel/source/medium (marts.journey_sessions);
--   conversions, revenue: the conversion's date and the converting touchpoint's own channel/source/medium;
--   attributed_*: the conversion's date and the credited touchpoint's channel/source/medium (marts.attribution),
--     so that, for every model, a day's attributed revenue sums to that day's revenue.
-- A missing source or medium reads '(none)'.
with sessions as (
    select
        cast(session_start as date) as date_day,
        entry_channel as channel,
        coalesce(entry_source, '(none)') as source,
        coalesce(entry_medium, '(none)') as medium,
        count(*) as sessions,
        count(distinct person_id) as people
    from {{ ref('journey_sessions') }}
    group by 1, 2, 3, 4
),

conversions as (
    select
        cast(occurred_at as date) as date_day,
        channel,
        coalesce(source, '(none)') as source,
        coalesce(medium, '(none)') as medium,
        count(*) as conversions,
        sum(revenue) as revenue
    from {{ ref('touchpoints') }}
    where is_conversion
    group by 1, 2, 3, 4
),

attributed as (
    select
        cast(conversion_at as date) as date_day,
        channel,
        coalesce(source, '(none)') as source,
        coalesce(medium, '(none)') as medium,
        {{- sum_attributed_by_model() }}
    from {{ ref('attribution') }}
    group by 1, 2, 3, 4
),

grain as (
    select date_day, channel, source, medium from sessions
    union
    select date_day, channel, source, medium from conversions
    union
    select date_day, channel, source, medium from attributed
)

select
    grain.date_day,
    grain.channel,
    grain.source,
    grain.medium,
    coalesce(sessions.sessions, 0) as sessions,
    coalesce(sessions.people, 0) as people,
    coalesce(conversions.conversions, 0) as conversions,
    {{ money('coalesce(conversions.revenue, 0)') }} as revenue,
    {{- attributed_by_model_columns('attributed') }}
from grain
left join sessions using (date_day, channel, source, medium)
left join conversions using (date_day, channel, source, medium)
left join attributed using (date_day, channel, source, medium)
