-- One row per touchpoint that can earn attribution credit: what a person (or a still anonymous visitor) did on
-- any channel, online or offline. Left out: outbound touchpoints (an e-mail send is not evidence the person saw
-- it), the types in var('attribution_excluded_touchpoint_types') (IoT readings are telemetry, an unsubscribe is
-- no push towards a purchase) and loyalty points earned by a receipt at that receipt's instant (the store visit
-- already counts once, as the receipt). Conversions count as touchpoints of later conversions (a store visit
-- before an online order is an offline touch).
with touchpoints as (
    select * from {{ ref('touchpoints') }}
),

receipts as (
    select person_id, occurred_at from touchpoints where touchpoint_type = 'pos_receipt' and person_id is not null
)

select
    touchpoints.touchpoint_id,
    touchpoints.touchpoint_type,
    touchpoints.person_id,
    touchpoints.visitor_id,
    -- whose journey it is: the person, or the visitor while unknown
    coalesce(touchpoints.person_id, 'visitor:' || touchpoints.visitor_id) as actor_id,
    touchpoints.occurred_at,
    touchpoints.channel,
    touchpoints.source,
    touchpoints.medium,
    touchpoints.campaign,
    touchpoints.is_conversion
from touchpoints
where not touchpoints.is_outbound
    and touchpoints.occurred_at is not null
    and coalesce(touchpoints.person_id, touchpoints.visitor_id) is not null
    and touchpoints.touchpoint_type not in ('{{ var("attribution_excluded_touchpoint_types") | join("', '") }}')
    and not (
        touchpoints.touchpoint_type = 'loyalty_points'
        and exists (
            select 1 from receipts
            where receipts.person_id = touchpoints.person_id and receipts.occurred_at = touchpoints.occurred_at
        )
    )
