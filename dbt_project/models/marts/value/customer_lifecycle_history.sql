-- One row per person and stretch of UTC days in one lifecycle stage (SCD type 2), from the day the warehouse first
-- knows of the person up to the as-of day: valid_from inclusive, valid_to exclusive (null for the current row). The
-- rules, counted in days from purchase days, are vars (dbt_project.yml, value) and written in _value__docs.md.
{%- set new_days = var('lifecycle_new_days') | int %}
{%- set at_risk_days = var('lifecycle_at_risk_days') | int %}
{%- set lapsed_days = var('lifecycle_lapsed_days') | int %}
{%- set reactivated_days = var('lifecycle_reactivated_days') | int %}
{%- if not (0 < at_risk_days < lapsed_days) or new_days < 1 or reactivated_days < 1 %}
    {{ exceptions.raise_compiler_error(
        "lifecycle vars: need 0 < lifecycle_at_risk_days < lifecycle_lapsed_days and lifecycle_new_days, "
        ~ "lifecycle_reactivated_days >= 1 (got at risk " ~ at_risk_days ~ ", lapsed " ~ lapsed_days ~ ", new "
        ~ new_days ~ ", reactivated " ~ reactivated_days ~ ")") }}
{%- endif %}

with as_of as (
    select * from {{ ref('int_value__as_of') }}
),

people as (
    select * from {{ ref('int_value__people') }}
),

-- a purchase day reactivates a person who was lapsed the day before
purchases as (
    select
        person_id,
        purchase_date,
        coalesce({{ days_between('previous_purchase_date', 'purchase_date') }} > {{ lapsed_days }}, false) as is_reactivation
    from {{ ref('int_value__purchase_days') }}
),

-- the days on which a person's stage may change; between two of them it cannot
change_days as (
    select person_id, first_known_date as day from people
    union
    select person_id, purchase_date from purchases
    union
    select person_id, purchase_date + {{ at_risk_days }} from purchases
    union
    select person_id, purchase_date + {{ lapsed_days }} from purchases
    union
    select person_id, purchase_date + {{ reactivated_days }} from purchases where is_reactivation
    union
    select person_id, first_purchase_date + {{ new_days }} from people where first_purchase_date is not null
),

timeline as (
    select
        change_days.person_id,
        change_days.day,
        max(purchases.purchase_date) over days_so_far as last_purchase_date,
        max(case when purchases.is_reactivation then purchases.purchase_date end) over days_so_far as last_reactivation_date
    from change_days
    cross join as_of
    left join purchases on change_days.person_id = purchases.person_id and change_days.day = purchases.purchase_date
    where change_days.day <= as_of.as_of_date
    window days_so_far as (partition by change_days.person_id order by change_days.day rows between unbounded preceding and current row)
),

staged as (
    select
        timeline.person_id,
        timeline.day,
        case
            when timeline.last_purchase_date is null then 'prospect'
            when {{ days_between('timeline.last_purchase_date', 'timeline.day') }} >= {{ lapsed_days }} then 'lapsed'
            when {{ days_between('timeline.last_purchase_date', 'timeline.day') }} >= {{ at_risk_days }} then 'at risk'
            when {{ days_between('people.first_purchase_date', 'timeline.day') }} < {{ new_days }} then 'new'
            when {{ days_between('timeline.last_reactivation_date', 'timeline.day') }} < {{ reactivated_days }} then 'reactivated'
            else 'active'
        end as stage
    from timeline
    inner join people on timeline.person_id = people.person_id
),

changes as (
    select
        person_id,
        day,
        stage,
        lag(stage) over (partition by person_id order by day) as previous_stage
    from staged
),

stretches as (
    select
        person_id,
        stage,
        previous_stage,
        day as valid_from,
        lead(day) over (partition by person_id order by day) as valid_to
    from changes
    where previous_stage is null or previous_stage <> stage
)

select
    person_id,
    stage,
    previous_stage,
    valid_from,
    valid_to,
    valid_to is null as is_current
from stretches
