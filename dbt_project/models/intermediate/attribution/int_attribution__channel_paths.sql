-- The journeys the Markov model learns from, one row per distinct channel path and outcome with how often it
-- happened. A converting path is a conversion's touchpoints (int_attribution__conversion_paths, direct ones left
-- out: they have no channel to learn about). A non-converting path is a run of an actor's eligible touchpoints
-- (a person's, or an anonymous visitor's) that no conversion of theirs follows within the lookback window; a run
-- ends where the gap to the next touchpoint exceeds the window or a converting touchpoint comes between. Runs at
-- the end of the data count as non-converting (they may still convert: the model cannot know yet).
{%- set lookback_days = var('attribution_lookback_days') %}
with eligible as (
    select * from {{ ref('int_attribution__eligible_touchpoints') }}
),

conversion_paths as (
    select * from {{ ref('int_attribution__conversion_paths') }} where not is_direct
),

flagged as (
    select
        eligible.*,
        exists(
            select 1 from conversion_paths where conversion_paths.touchpoint_id = eligible.touchpoint_id
        ) as leads_to_conversion
    from eligible
),

runs as (
    select
        *,
        case
            when lag(occurred_at) over actor_order is null then 1
            when lag(leads_to_conversion) over actor_order then 1
            when occurred_at - lag(occurred_at) over actor_order > interval '{{ lookback_days }} days' then 1
            else 0
        end as starts_run
    from flagged
    window actor_order as (partition by actor_id order by occurred_at, touchpoint_id)
),

numbered as (
    select
        *,
        sum(starts_run) over (partition by actor_id order by occurred_at, touchpoint_id rows unbounded preceding) as run_number
    from runs
    where not leads_to_conversion
),

paths as (
    select conversion_id as path_id, {{ ordered_string_agg('channel', "' > '", 'touch_index') }} as channel_path, true as converted
    from conversion_paths
    group by conversion_id
    union all
    select
        actor_id || '#' || run_number,
        {{ ordered_string_agg('channel', "' > '", 'occurred_at, touchpoint_id') }},
        false
    from numbered
    group by actor_id, run_number
)

select channel_path, converted, count(*) as paths
from paths
group by channel_path, converted
