-- One row per conversion, touchpoint and attribution model: the share of the conversion (and of its revenue)
-- the touchpoint earns. Rule-based models from int_attribution__rule_based, the data-driven one from
-- int_attribution__markov; paths from int_attribution__conversion_paths.
with credits as (
    select * from {{ ref('int_attribution__rule_based') }}
    union all
    select * from {{ ref('int_attribution__markov') }}
),

paths as (
    select * from {{ ref('int_attribution__conversion_paths') }}
)

select
    credits.conversion_id,
    credits.touchpoint_id,
    credits.model,
    credits.credit,
    paths.person_id,
    paths.conversion_at,
    paths.touchpoint_at,
    paths.touchpoint_type,
    paths.channel,
    paths.source,
    paths.medium,
    paths.campaign,
    paths.is_direct,
    paths.days_before_conversion,
    paths.conversion_revenue,
    credits.credit * cast(paths.conversion_revenue as double precision) as attributed_revenue
from credits
inner join paths
    on credits.conversion_id = paths.conversion_id
    and credits.touchpoint_id = paths.touchpoint_id
