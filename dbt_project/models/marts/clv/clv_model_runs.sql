{{ config(materialized='incremental', on_schema_change='append_new_columns') }}
-- One row per CLV fit ever made: each run of intermediate.int_clv__fits (one run_id) appends its production and
-- backtest fits; rebuilding this mart without a new fit appends nothing.
select
    cast(run_id as varchar) as run_id,
    cast(purpose as varchar) as purpose,
    cast(fitted_at as timestamptz) as fitted_at,
    cast(calibration_end as date) as calibration_end,
    cast(time_unit as varchar) as time_unit,
    cast(r as double) as r,
    cast(alpha as double) as alpha,
    cast(a as double) as a,
    cast(b as double) as b,
    cast(p as double) as p,
    cast(q as double) as q,
    cast(gamma as double) as gamma,
    cast(log_likelihood as double) as log_likelihood,
    cast(customers as bigint) as customers,
    cast(repeat_customers as bigint) as repeat_customers,
    cast(converged as boolean) as converged,
    cast(gg_log_likelihood as double) as gg_log_likelihood,
    cast(holdout_end as date) as holdout_end,
    cast(fit_seconds as double) as fit_seconds,
    cast(failure as varchar) as failure
from {{ ref('int_clv__fits') }}
{% if is_incremental() %}
where run_id not in (select run_id from {{ this }})
{% endif %}
