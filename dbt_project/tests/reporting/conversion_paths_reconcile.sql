{{ config(meta={'dagster': {'ref': {'name': 'conversion_paths'}}}) }}  {#- the Dagster asset this check belongs to #}
-- marts.conversion_paths counts every conversion of marts.touchpoints once, on its UTC day, with its revenue:
-- the days where the two disagree (none expected).
with paths as (
    select conversion_date as date_day, sum(conversions) as conversions, sum(revenue) as revenue
    from {{ ref('conversion_paths') }}
    group by conversion_date
),

conversions as (
    select cast(timezone('UTC', occurred_at) as date) as date_day, count(*) as conversions, sum(revenue) as revenue
    from {{ ref('touchpoints') }}
    where is_conversion
    group by 1
)

select
    coalesce(paths.date_day, conversions.date_day) as date_day,
    paths.conversions as path_conversions,
    conversions.conversions as touchpoint_conversions
from paths
full outer join conversions on paths.date_day = conversions.date_day
where paths.conversions is distinct from conversions.conversions
    or paths.revenue is distinct from conversions.revenue
