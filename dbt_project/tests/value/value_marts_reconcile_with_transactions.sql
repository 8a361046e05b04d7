{{ config(meta={'dagster': {'ref': {'name': 'cohort_retention'}}}) }}  {#- the Dagster asset this check belongs to #}
-- The value marts against intermediate.int_value__transactions up to the as-of moment: customers, transactions and
-- revenue of marts.customer_rfm and marts.cohort_retention (exact: decimals), each customer's cohort in month 0, and
-- the current lifecycle stage of every customer against the recency rules. Returns each figure that differs.
{%- set lapsed_days = var('lifecycle_lapsed_days') | int %}
{%- set at_risk_days = var('lifecycle_at_risk_days') | int %}
with transactions as (
    select transactions.*
    from {{ ref('int_value__transactions') }} as transactions
    cross join {{ ref('int_value__as_of') }} as as_of
    where transactions.purchased_at <= as_of.as_of_at
),

expected as (
    select count(distinct person_id) as customers, count(*) as transactions, sum(amount) as revenue from transactions
),

rfm as (
    select count(*) as customers, sum(frequency) as transactions, sum(monetary) as revenue from {{ ref('customer_rfm') }}
),

cohorts as (
    select
        sum(case when months_since_first_purchase = 0 then customers else 0 end) as customers,
        sum(transactions) as transactions,
        sum(revenue) as revenue
    from {{ ref('cohort_retention') }}
),

current_stages as (
    select rfm.person_id, rfm.recency_days, history.stage
    from {{ ref('customer_rfm') }} as rfm
    left join {{ ref('customer_lifecycle_history') }} as history on rfm.person_id = history.person_id and history.is_current
)

select 'customer_rfm' as mart, 'customers, transactions or revenue' as figure
from expected, rfm
where expected.customers <> rfm.customers or expected.transactions <> rfm.transactions or expected.revenue <> rfm.revenue
union all
select 'cohort_retention', 'customers, transactions or revenue'
from expected, cohorts
where expected.customers <> cohorts.customers or expected.transactions <> cohorts.transactions
    or expected.revenue <> cohorts.revenue
union all
select 'customer_lifecycle_history', 'current stage of ' || person_id || ' against its recency'
from current_stages
where stage is null
    or stage = 'prospect'
    or (stage = 'lapsed') <> (recency_days >= {{ lapsed_days }})
    or (stage = 'at risk') <> (recency_days >= {{ at_risk_days }} and recency_days < {{ lapsed_days }})
