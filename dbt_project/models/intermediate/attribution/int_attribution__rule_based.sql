-- One row per conversion, touchpoint and rule-based model with the share of the conversion the touchpoint earns:
--   first_touch / last_touch: 1 to the earliest / latest touchpoint (ties in time broken by touchpoint_id), no
--     row for the others;
--   linear: 1/n each;
--   time_decay: weight 0.5 ^ (days before the conversion / var('time_decay_half_life_days')), normalised per
--     conversion;
--   position_based: 40% first, 40% last, the 20% left split evenly over the touchpoints between them; a path of
--     two splits 50/50 (no middle to take the 20%), a path of one gets 1.
with paths as (
    select
        *,
        power(0.5, days_before_conversion / {{ var('time_decay_half_life_days') }}) as decay_weight
    from {{ ref('int_attribution__conversion_paths') }}
),

credits as (
    select conversion_id, touchpoint_id, 'first_touch' as model, 1.0 as credit
    from paths where touch_index = 1
    union all
    select conversion_id, touchpoint_id, 'last_touch', 1.0
    from paths where touch_index = path_touches
    union all
    select conversion_id, touchpoint_id, 'linear', 1.0 / path_touches
    from paths
    union all
    select conversion_id, touchpoint_id, 'time_decay', decay_weight / sum(decay_weight) over (partition by conversion_id)
    from paths
    union all
    select
        conversion_id,
        touchpoint_id,
        'position_based',
        case
            when path_touches = 1 then 1.0
            when path_touches = 2 then 0.5
            when touch_index = 1 or touch_index = path_touches then 0.4
            else 0.2 / (path_touches - 2)
        end
    from paths
)

select conversion_id, touchpoint_id, model, cast(credit as double precision) as credit
from credits
