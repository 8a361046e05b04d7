{{ config(materialized='incremental', on_schema_change='append_new_columns') }}
-- One row per CLV fit: each run of intermediate.int_clv__fits (one run_id) appends its production and backtest fits,
-- unless a fit is the newest stored fit of its purpose again (same calibration end, unit, customers and
-- likelihoods: the same data fitted again); running again on unchanged data appends nothing.
with fits as (
    select
        cast(run_id as varchar) as run_id,
        cast(purpose as varchar) as purpose,
        cast(fitted_at as timestamptz) as fitted_at,
        cast(calibration_end as date) as calibration_end,
        cast(time_unit as varchar) as time_unit,
        cast(r as double precision) as r,
        cast(alpha as double precision) as alpha,
        cast(a as double precision) as a,
        cast(b as double precision) as b,
        cast(p as double precision) as p,
        cast(q as double precision) as q,
        cast(gamma as double precision) as gamma,
        cast(log_likelihood as double precision) as log_likelihood,
        cast(customers as bigint) as customers,
        cast(repeat_customers as bigint) as repeat_customers,
        cast(converged as boolean) as converged,
        cast(gg_log_likelihood as double precision) as gg_log_likelihood,
        cast(holdout_end as date) as holdout_end,
        cast(fit_seconds as double precision) as fit_seconds,
        cast(failure as varchar) as failure
    from {{ ref('int_clv__fits') }}
)

select fits.*
from fits
{% if is_incremental() %}
left join (
    select *
    from (
        select
            *,
            row_number() over (partition by purpose order by fitted_at desc nulls last, run_id desc nulls last) as recency
        from {{ this }}
    ) as runs
    where recency = 1
) as newest
    on fits.purpose = newest.purpose
    and fits.calibration_end = newest.calibration_end
    and fits.time_unit = newest.time_unit
    and fits.customers is not distinct from newest.customers
    and fits.repeat_customers is not distinct from newest.repeat_customers
    and {{ round_to('fits.log_likelihood', 6) }} is not distinct from {{ round_to('newest.log_likelihood', 6) }}
    and {{ round_to('fits.gg_log_likelihood', 6) }} is not distinct from {{ round_to('newest.gg_log_likelihood', 6) }}
    and fits.failure is not distinct from newest.failure
where newest.run_id is null
{% endif %}
