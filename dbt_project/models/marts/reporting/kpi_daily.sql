-- One row per UTC day, every day from the first to the last with any measure (days without activity read 0): the
-- overview's figures, pre-aggregated so that a dashboard page reads days, not touchpoints.
--   active_customers: known people with one of their own touchpoints that day (marts.touchpoints: outbound ones, such
--     as e-mail sends, and passive device readings left out: the touchpoints sessions are made of);
--   new_people: people first seen that day (marts.customer_360.first_seen_at); their running sum is the people known;
--   new_customers: people whose first purchase (online, in store or imported) was that day (int_value__purchase_days);
--   orders_online, revenue_online: paid shop orders (marts.touchpoints conversions of type order);
--   receipts_store, revenue_store: POS receipts, with or without a known loyalty card (type pos_receipt);
--   sessions, converting_sessions: marts.journey_sessions by the session's start.
-- Revenue online plus in store is the day's revenue of marts.channel_daily (tests/reporting).
with activity as (
    select
        cast(occurred_at as date) as date_day,
        count(distinct person_id) as active_customers
    from {{ ref('touchpoints') }}
    where person_id is not null
        and not is_outbound
        and touchpoint_type not in ({{ "'" ~ var('session_excluded_touchpoint_types') | join("', '") ~ "'" }})
    group by 1
),

conversions as (
    select
        cast(occurred_at as date) as date_day,
        count(case when touchpoint_type = 'order' then 1 end) as orders_online,
        sum(case when touchpoint_type = 'order' then revenue else 0 end) as revenue_online,
        count(case when touchpoint_type = 'pos_receipt' then 1 end) as receipts_store,
        sum(case when touchpoint_type = 'pos_receipt' then revenue else 0 end) as revenue_store
    from {{ ref('touchpoints') }}
    where is_conversion
    group by 1
),

sessions as (
    select
        cast(session_start as date) as date_day,
        count(*) as sessions,
        count(case when converted then 1 end) as converting_sessions
    from {{ ref('journey_sessions') }}
    group by 1
),

new_people as (
    select cast(first_seen_at as date) as date_day, count(*) as new_people
    from {{ ref('customer_360') }}
    where first_seen_at is not null
    group by 1
),

new_customers as (
    select purchase_date as date_day, count(*) as new_customers
    from {{ ref('int_value__purchase_days') }}
    where purchase_day_number = 1
    group by 1
),

bounds as (
    select min(date_day) as first_day, max(date_day) as last_day
    from (
        select date_day from activity
        union all
        select date_day from conversions
        union all
        select date_day from sessions
        union all
        select date_day from new_people
        union all
        select date_day from new_customers
    ) as days
),

spine as (
    select cast(days.day_start as date) as date_day
    from bounds
    cross join {{ day_series('bounds.first_day', 'bounds.last_day', 'days', 'day_start') }}
)

select
    spine.date_day,
    cast(coalesce(activity.active_customers, 0) as bigint) as active_customers,
    cast(coalesce(new_people.new_people, 0) as bigint) as new_people,
    cast(coalesce(new_customers.new_customers, 0) as bigint) as new_customers,
    cast(coalesce(conversions.orders_online, 0) as bigint) as orders_online,
    cast(coalesce(conversions.revenue_online, 0) as decimal(18, 2)) as revenue_online,
    cast(coalesce(conversions.receipts_store, 0) as bigint) as receipts_store,
    cast(coalesce(conversions.revenue_store, 0) as decimal(18, 2)) as revenue_store,
    cast(coalesce(conversions.revenue_online, 0) + coalesce(conversions.revenue_store, 0) as decimal(18, 2)) as revenue,
    cast(coalesce(sessions.sessions, 0) as bigint) as sessions,
    cast(coalesce(sessions.converting_sessions, 0) as bigint) as converting_sessions,
    cast(sessions.converting_sessions as double precision) / nullif(sessions.sessions, 0) as conversion_rate
from spine
left join activity on spine.date_day = activity.date_day
left join conversions on spine.date_day = conversions.date_day
left join sessions on spine.date_day = sessions.date_day
left join new_people on spine.date_day = new_people.date_day
left join new_customers on spine.date_day = new_customers.date_day
