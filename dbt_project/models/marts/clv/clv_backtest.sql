-- One row per calibration-frequency bucket of the backtest (0, 1, ..., var clv_backtest_top_bucket or more) and one
-- total row (frequency_bucket 'all', is_total): predicted vs actual repeat purchases in the holdout.
with fit as (
    select
        cast(calibration_end as date) as calibration_end,
        cast(holdout_end as date) as holdout_end
    from {{ ref('int_clv__fits') }}
    where purpose = 'backtest'
),

customers as (
    select
        person_id,
        least(frequency, {{ var('clv_backtest_top_bucket') }}) as bucket,
        predicted_purchases,
        actual_purchases
    from {{ ref('int_clv__backtest') }}
),

buckets as (
    select
        case
            when bucket = {{ var('clv_backtest_top_bucket') }} then bucket || '+'
            else cast(bucket as varchar)
        end as frequency_bucket,
        false as is_total,
        bucket as frequency_min,
        case when bucket < {{ var('clv_backtest_top_bucket') }} then bucket end as frequency_max,
        count(*) as customers,
        sum(predicted_purchases) as predicted_purchases,
        sum(actual_purchases) as actual_purchases,
        avg(abs(predicted_purchases - actual_purchases)) as mean_absolute_error
    from customers
    group by bucket
),

total as (
    select
        'all' as frequency_bucket,
        true as is_total,
        0 as frequency_min,
        cast(null as integer) as frequency_max,
        count(*) as customers,
        sum(predicted_purchases) as predicted_purchases,
        coalesce(sum(actual_purchases), 0) as actual_purchases,
        avg(abs(predicted_purchases - actual_purchases)) as mean_absolute_error
    from customers
),

both_kinds as (
    select * from buckets
    union all
    select * from total
)

select
    both_kinds.frequency_bucket,
    both_kinds.is_total,
    cast(both_kinds.frequency_min as integer) as frequency_min,
    cast(both_kinds.frequency_max as integer) as frequency_max,
    cast(both_kinds.customers as bigint) as customers,
    cast(both_kinds.predicted_purchases as double precision) as predicted_purchases,
    cast(both_kinds.actual_purchases as bigint) as actual_purchases,
    cast(both_kinds.predicted_purchases - both_kinds.actual_purchases as double precision) as error,
    cast(both_kinds.predicted_purchases as double precision) / nullif(both_kinds.customers, 0) as predicted_per_customer,
    cast(both_kinds.actual_purchases as double precision) / nullif(both_kinds.customers, 0) as actual_per_customer,
    cast(both_kinds.mean_absolute_error as double precision) as mean_absolute_error,
    fit.calibration_end,
    fit.holdout_end,
    cast(fit.holdout_end - fit.calibration_end as integer) as holdout_days
from both_kinds
cross join fit
