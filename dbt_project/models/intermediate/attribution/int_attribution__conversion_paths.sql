-- One row per conversion and touchpoint on its path: every eligible touchpoint of the converting person within
-- var('attribution_lookback_days') days before the conversion (strictly before it: what happens at the same
-- instant is the conversion itself). A conversion without any such touchpoint (a walk-in purchase, an order
-- typed straight into the browser, a receipt without a known card) is its own one-touchpoint path, `is_direct`,
-- so that every conversion gets exactly one unit of credit under every model.
{%- set lookback_days = var('attribution_lookback_days') %}
with conversions as (
    select
        touchpoint_id as conversion_id,
        person_id,
        occurred_at as conversion_at,
        revenue as conversion_revenue,
        touchpoint_type,
        channel,
        source,
        medium,
        campaign
    from {{ ref('touchpoints') }}
    where is_conversion
),

touches as (
    select
        conversions.conversion_id,
        eligible.touchpoint_id,
        eligible.touchpoint_type,
        eligible.occurred_at as touchpoint_at,
        eligible.channel,
        eligible.source,
        eligible.medium,
        eligible.campaign,
        false as is_direct
    from conversions
    inner join {{ ref('int_attribution__eligible_touchpoints') }} as eligible
        on eligible.person_id = conversions.person_id
        and eligible.occurred_at < conversions.conversion_at
        and eligible.occurred_at >= conversions.conversion_at - interval '{{ lookback_days }} days'
),

direct as (
    select
        conversion_id, conversion_id as touchpoint_id, touchpoint_type, conversion_at as touchpoint_at,
        channel, source, medium, campaign, true as is_direct
    from conversions
    where not exists (select 1 from touches where touches.conversion_id = conversions.conversion_id)
),

paths as (
    select * from touches
    union all
    select * from direct
)

select
    paths.conversion_id,
    conversions.person_id,
    conversions.conversion_at,
    conversions.conversion_revenue,
    paths.touchpoint_id,
    paths.touchpoint_type,
    paths.touchpoint_at,
    paths.channel,
    paths.source,
    paths.medium,
    paths.campaign,
    paths.is_direct,
    ({{ epoch_seconds('conversions.conversion_at') }} - {{ epoch_seconds('paths.touchpoint_at') }}) / 86400.0 as days_before_conversion,
    row_number() over (
        partition by paths.conversion_id order by paths.touchpoint_at, paths.touchpoint_id
    ) as touch_index,
    count(*) over (partition by paths.conversion_id) as path_touches
from paths
inner join conversions on paths.conversion_id = conversions.conversion_id
