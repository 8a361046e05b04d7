-- One row per UTC conversion day, channel path, step count and purchase channel: how many conversions took that
-- path and what they brought. A conversion's path is its touchpoints in intermediate.int_attribution__conversion_paths
-- (the person's eligible touchpoints in the attribution lookback window before it), read as the channels in time
-- order with consecutive repeats collapsed into one step ('email > email > online' is 'email > online'). A path of
-- more than var('conversion_path_max_steps') (5) steps keeps its first two and last two steps around '...'. A
-- conversion without a touchpoint before it is the path '(direct)' of 0 steps.
{%- set max_steps = var('conversion_path_max_steps', 5) %}
with touches as (
    select * from {{ ref('int_attribution__conversion_paths') }}
),

conversions as (
    select
        touches.conversion_id,
        {{ any_value('touches.conversion_at') }} as conversion_at,
        {{ any_value('touches.conversion_revenue') }} as conversion_revenue,
        bool_or(touches.is_direct) as is_direct,
        count(*) filter (where not touches.is_direct) as touchpoints,
        max(touches.days_before_conversion) as days_to_convert
    from touches
    group by touches.conversion_id
),

steps as (
    select
        conversion_id,
        touch_index,
        channel,
        (channel is distinct from lag(channel) over (partition by conversion_id order by touch_index)) as starts_step
    from touches
    where not is_direct
),

collapsed as (
    select conversion_id, {{ ordered_list_agg('channel', 'touch_index') }} as channels
    from steps
    where starts_step
    group by conversion_id
),

paths as (
    select
        conversions.conversion_id,
        cast(timezone('UTC', conversions.conversion_at) as date) as conversion_date,
        purchases.channel as purchase_channel,
        conversions.conversion_revenue,
        conversions.touchpoints,
        case when conversions.is_direct then 0.0 else conversions.days_to_convert end as days_to_convert,
        case when conversions.is_direct then 0 else {{ array_size('collapsed.channels') }} end as steps,
        case
            when conversions.is_direct then '(direct)'
            when {{ array_size('collapsed.channels') }} <= {{ max_steps }} then {{ list_join('collapsed.channels', "' > '") }}
            else {{ list_join(list_head('collapsed.channels', 2), "' > '") }} || ' > ... > '
                || {{ list_join(array_tail('collapsed.channels', 2), "' > '") }}
        end as path,
        case when conversions.is_direct then '(direct)' else {{ list_element('collapsed.channels', 1) }} end as first_channel,
        case when conversions.is_direct then '(direct)' else {{ array_from_end('collapsed.channels') }} end as last_channel
    from conversions
    inner join {{ ref('touchpoints') }} as purchases on conversions.conversion_id = purchases.touchpoint_id
    left join collapsed on conversions.conversion_id = collapsed.conversion_id
)

select
    conversion_date,
    cast(path as varchar) as path,
    cast(steps as integer) as steps,
    cast(purchase_channel as varchar) as purchase_channel,
    cast({{ any_value('first_channel') }} as varchar) as first_channel,
    cast({{ any_value('last_channel') }} as varchar) as last_channel,
    count(*) as conversions,
    {{ money('sum(conversion_revenue)') }} as revenue,
    cast(sum(touchpoints) as bigint) as touchpoints,
    cast(avg(days_to_convert) as double precision) as avg_days_to_convert
from paths
group by conversion_date, path, steps, purchase_channel
