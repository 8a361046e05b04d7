-- Markov (data-driven) credit per conversion and touchpoint: the conversion is split over the distinct channels
-- on its path in proportion to their removal effects (int_attribution__markov_removal_effects), and each
-- channel's part evenly over that channel's touchpoints on the path. A direct conversion keeps its one unit.
-- Should every channel on a path have no removal effect (not possible for a channel seen on a converting path,
-- kept as a guard), the path is split linearly.
with paths as (
    select * from {{ ref('int_attribution__conversion_paths') }}
),

effects as (
    select channel, removal_effect_share from {{ ref('int_attribution__markov_removal_effects') }}
),

channel_touches as (
    select
        paths.conversion_id,
        paths.touchpoint_id,
        paths.is_direct,
        paths.path_touches,
        coalesce(effects.removal_effect_share, 0) as channel_share,
        count(*) over (partition by paths.conversion_id, paths.channel) as channel_touches_on_path
    from paths
    left join effects on paths.channel = effects.channel
),

path_totals as (
    select
        *,
        -- each channel once: its share divided over its touches sums back to the share
        sum(channel_share / channel_touches_on_path) over (partition by conversion_id) as path_share
    from channel_touches
)

select
    conversion_id,
    touchpoint_id,
    'markov' as model,
    cast(
        case
            when is_direct then 1.0
            when path_share > 0 then channel_share / channel_touches_on_path / path_share
            else 1.0 / path_touches
        end as double precision
    ) as credit
from path_totals
