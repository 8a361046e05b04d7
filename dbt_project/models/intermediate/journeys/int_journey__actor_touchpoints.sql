-- One row per touchpoint that sessions are made of: an actor's own touchpoints, the actor being the person or,
-- while unknown, the storefront visitor. Outbound touchpoints (var outbound_touchpoint_types, via
-- touchpoints.is_outbound) and passive ones (var session_excluded_touchpoint_types: device readings) are left
-- out, and so are touchpoints of nobody known (a receipt without a card).
select
    touchpoints.touchpoint_id,
    coalesce(touchpoints.person_id, 'visitor:' || touchpoints.visitor_id) as actor_key,
    touchpoints.person_id,
    touchpoints.visitor_id,
    touchpoints.occurred_at,
    -- what a touchpoint brings about at the same instant comes after it (points after their receipt)
    case when touchpoints.touchpoint_type = 'loyalty_points' then 1 else 0 end as same_time_rank,
    touchpoints.touchpoint_type,
    touchpoints.channel,
    touchpoints.source,
    touchpoints.medium,
    touchpoints.campaign,
    events.page_path,
    touchpoints.is_conversion,
    touchpoints.revenue
from {{ ref('touchpoints') }} as touchpoints
left join {{ ref('int_journey__storefront_events') }} as events
    on touchpoints.touchpoint_id = 'storefront:' || events.storefront_event_id
where not touchpoints.is_outbound
    and touchpoints.touchpoint_type not in ({{ "'" ~ var('session_excluded_touchpoint_types') | join("', '") ~ "'" }})
    and (touchpoints.person_id is not null or touchpoints.visitor_id is not null)
