-- One row per cohort (the UTC month of its customers' first purchase) and month since it, from the cohort's month up
-- to the as-of month: the cohort's customers, those who bought in that month, their transactions and revenue.
with as_of as (
    select cast(date_trunc('month', as_of_date) as date) as as_of_month from {{ ref('int_value__as_of') }}
),

purchase_days as (
    select
        person_id,
        cast(date_trunc('month', purchase_date) as date) as activity_month,
        transactions,
        amount
    from {{ ref('int_value__purchase_days') }}
),

cohort_members as (
    select person_id, min(activity_month) as cohort_month from purchase_days group by person_id
),

cohorts as (
    select cohort_month, count(*) as customers from cohort_members group by cohort_month
),

grid as (
    select
        cohorts.cohort_month,
        cohorts.customers,
        cast(months_since.n as integer) as months_since_first_purchase,
        cast({{ dbt.dateadd('month', 'cast(months_since.n as integer)', 'cohorts.cohort_month') }} as date) as activity_month
    from cohorts
    cross join as_of
    cross join {{ integer_series(dbt.datediff('cohorts.cohort_month', 'as_of.as_of_month', 'month'), 'months_since', 'n') }}
),

activity as (
    select
        cohort_members.cohort_month,
        purchase_days.activity_month,
        count(distinct purchase_days.person_id) as active_customers,
        sum(purchase_days.transactions) as transactions,
        sum(purchase_days.amount) as revenue
    from purchase_days
    inner join cohort_members on purchase_days.person_id = cohort_members.person_id
    group by cohort_members.cohort_month, purchase_days.activity_month
)

select
    grid.cohort_month,
    grid.months_since_first_purchase,
    grid.activity_month,
    grid.customers,
    coalesce(activity.active_customers, 0) as active_customers,
    cast(coalesce(activity.transactions, 0) as bigint) as transactions,
    cast(coalesce(activity.revenue, 0) as decimal(18, 2)) as revenue,
    cast(coalesce(activity.active_customers, 0) as double precision) / grid.customers as retention_rate
from grid
left join activity on grid.cohort_month = activity.cohort_month and grid.activity_month = activity.activity_month
