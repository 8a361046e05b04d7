{{ config(meta={'dagster': {'ref': {'name': 'kpi_daily'}}}) }}  {#- the Dagster asset this check belongs to #}
-- marts.kpi_daily against the marts it summarises: its days have no gaps; every day's sessions, conversions and
-- revenue equal marts.channel_daily's (sessions by their start, conversions online plus in store); its new people
-- add up to marts.customer_360's people with a first_seen_at, its new customers to the people with a purchase
-- (intermediate.int_value__purchase_days). Returns one row per thing that does not add up.
with kpi as (
    select * from {{ ref('kpi_daily') }}
),

channels as (
    select date_day, sum(sessions) as sessions, sum(conversions) as conversions, sum(revenue) as revenue
    from {{ ref('channel_daily') }}
    group by date_day
),

days_off as (
    select 'day ' || cast(coalesce(kpi.date_day, channels.date_day) as varchar) as problem
    from kpi
    full outer join channels on kpi.date_day = channels.date_day
    where kpi.date_day is null  -- a day of channel_daily outside kpi_daily's days
        or coalesce(channels.sessions, 0) != kpi.sessions
        or coalesce(channels.conversions, 0) != kpi.orders_online + kpi.receipts_store
        or coalesce(channels.revenue, 0) != kpi.revenue
),

gaps as (
    select 'gaps in the days' as problem
    from kpi
    having count(*) != {{ dbt.datediff('min(date_day)', 'max(date_day)', 'day') }} + 1
),

people as (
    select 'new_people' as problem
    from (select sum(new_people) as n from kpi) as k
    cross join (select count(*) as n from {{ ref('customer_360') }} where first_seen_at is not null) as c
    where k.n != c.n
),

customers as (
    select 'new_customers' as problem
    from (select sum(new_customers) as n from kpi) as k
    cross join (select count(distinct person_id) as n from {{ ref('int_value__purchase_days') }}) as c
    where k.n != c.n
)

select problem from days_off
union all
select problem from gaps
union all
select problem from people
union all
select problem from customers
