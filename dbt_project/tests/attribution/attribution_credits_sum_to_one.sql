{{ config(meta={'dagster': {'ref': {'name': 'attribution'}}}) }}  {#- the Dagster asset this check belongs to #}
-- Every conversion of marts.touchpoints has, under every attribution model, credits that sum to 1. Returns each
-- conversion and model where they do not (or that has no credit at all).
-- Tolerance 1e-9: credits are doubles; n of them carry a rounding error of at most about n * 1.1e-16 (below 1e-13
-- for a path of a thousand touchpoints, ~2e-15 on the demo world), while a real mistake moves the sum by at least
-- the smallest credit, 1/n of a path (above 1e-4 for any path the data can have).
with conversions as (
    select touchpoint_id as conversion_id from {{ ref('touchpoints') }} where is_conversion
),

models as (
    {%- for model in attribution_models() %}
    select '{{ model }}' as model {{ "union all" if not loop.last }}
    {%- endfor %}
),

sums as (
    select conversion_id, model, sum(credit) as credit
    from {{ ref('attribution') }}
    group by conversion_id, model
)

select conversions.conversion_id, models.model, sums.credit
from conversions
cross join models
left join sums on conversions.conversion_id = sums.conversion_id and models.model = sums.model
where sums.credit is null or abs(sums.credit - 1) > 1e-9
