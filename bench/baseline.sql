-- The DuckDB-native baseline of `journey bench pipeline`: customer_360 and journey_sessions built directly in DuckDB
-- from the raw tables bench/baseline.py loaded (src_<system>__<collection>, one per source file or collection).
-- Comparable in kind, not identical, to the dbt marts: deterministic identity by shared normalised e-mail addresses,
-- customer ids, loyalty member/card ids, social handles and device ids (connected components); one row per person
-- with their activity per system; sessions of every touchpoint of an actor with gaps of at most 30 minutes.
-- Statements are separated by lines of `-- ;`; `-- @components` marks where baseline.py iterates the label propagation.

-- Identifiers as people type them: zero-width spaces, tabs, full-width forms, case, a leading '@'.
-- (translate() only where a full-width form occurs: it is slow on every row)
create or replace macro norm_text(x) as
    nullif(lower(trim(
        case when regexp_matches(x, '[\x{FF01}-\x{FF5E}\x{3000}\x{200B}]')
             then translate(replace(x, chr(8203), ''), '{FULLWIDTH}', '{ASCII}') else x end,
        ' ' || chr(9) || chr(10) || chr(13))), '');
-- ;
create or replace macro norm_email(x) as norm_text(x);
-- ;
create or replace macro norm_handle(x) as nullif(ltrim(norm_text(x), '@'), '');
-- ;
-- Identifier edges: every record node joined to the identifiers it carries.
create or replace table bl_edges as
with customers as (
    select cast(id as varchar) as customer_id, email, social_handle from src_shop__customers
)
select 'shop:' || customer_id as node, 'email:' || norm_email(email) as identifier from customers where norm_email(email) is not null
union all
select 'shop:' || customer_id, 'handle:' || norm_handle(social_handle)
from customers where norm_handle(social_handle) is not null
union all
select 'esp:' || id, 'email:' || norm_email(attributes.email) from src_esp__profiles where norm_email(attributes.email) is not null
union all
select 'loyalty:' || member_id, 'email:' || norm_email(email) from src_loyalty__members where norm_email(email) is not null
union all
select 'loyalty:' || member_id, 'card:' || card_number from src_loyalty__cards
union all
select 'device:' || device_id, 'email:' || norm_email(owner_email) from src_iot__devices where norm_email(owner_email) is not null
union all
select 'history:' || order_id, 'email:' || norm_email(email) from src_history__orders where norm_email(email) is not null
union all
select 'history:' || order_id, 'shop:' || cast(shop_customer_id as varchar) from src_history__orders where shop_customer_id is not null
union all
select 'history:' || order_id, 'loyalty:' || loyalty_member_id from src_history__orders where nullif(loyalty_member_id, '') is not null
union all
select 'shop:' || id, 'shop:' || id from (select cast(id as varchar) as id from src_shop__customers)  -- a node is its own identifier
union all
select 'loyalty:' || member_id, 'loyalty:' || member_id from src_loyalty__members
union all
select 'social:' || handle, 'handle:' || handle from (
    select distinct norm_handle("from".username) as handle from src_social__actors
) where handle <> '';
-- ;
-- Connected components by label propagation over the bipartite graph node <-> identifier: every vertex starts
-- with its own name and takes the smallest label of its neighbours until nothing changes.
create or replace table bl_labels as
select vertex, vertex as label from (select node as vertex from bl_edges union select identifier from bl_edges);
-- ;
-- @components
create or replace table bl_labels_next as
with edges as (select node as a, identifier as b from bl_edges union all select identifier, node from bl_edges)
select labels.vertex, least(labels.label, coalesce(min(neighbours.label), labels.label)) as label
from bl_labels as labels
left join edges on edges.a = labels.vertex
left join bl_labels as neighbours on neighbours.vertex = edges.b
group by labels.vertex, labels.label;
-- ;
-- person_id: the component's label; one row per identifier and node
create or replace table bl_identity as
select vertex, label as person_id from bl_labels;
-- ;
create or replace table bl_touchpoints as
with web as (
    select
        events.event_id as touchpoint_id,
        coalesce(people.person_id, stitched.person_id) as person_id,
        events.domain_userid as visitor_id,
        events.derived_tstamp as occurred_at,
        'web' as channel,
        events.event = 'purchase' as is_conversion
    from src_shop__events as events
    left join bl_identity as people on people.vertex = 'shop:' || events.user_id
    left join (  -- a visitor who logged in once is that person for all their events
        select events.domain_userid, min(people.person_id) as person_id
        from src_shop__events as events
        inner join bl_identity as people on people.vertex = 'shop:' || events.user_id
        group by events.domain_userid
    ) as stitched on stitched.domain_userid = events.domain_userid
),
email as (
    select events.id, people.person_id, null, events.attributes.datetime, 'email', false
    from src_esp__events as events
    left join bl_identity as people on people.vertex = 'esp:' || events.relationships.profile.data.id
),
social as (
    select actors.id, people.person_id, null, actors.created_time, 'social', false
    from src_social__actors as actors
    left join bl_identity as people
        on people.vertex = 'social:' || norm_handle(actors."from".username)
),
orders as (
    select cast(orders.id as varchar), people.person_id, null, orders.created_at, 'web', true
    from src_shop__orders as orders
    left join bl_identity as people on people.vertex = 'shop:' || cast(orders.customer.id as varchar)
),
store as (
    select receipts.receipt_id, people.person_id, null, cast(receipts.purchased_at as timestamptz), 'store', true
    from src_loyalty__receipts as receipts
    left join bl_identity as people on people.vertex = 'card:' || receipts.card_number
),
devices as (
    select readings.reading_id, people.person_id, null, readings.recorded_at, 'device', false
    from src_iot__readings as readings
    left join bl_identity as people on people.vertex = 'device:' || readings.device_id
)
select * from web union all select * from email union all select * from social
union all select * from orders union all select * from store union all select * from devices;
-- ;
-- journey_sessions: an actor (the person, else the anonymous visitor) and their touchpoints with no gap over 30 minutes.
create or replace table journey_sessions as
with actors as (
    select *, coalesce(person_id, 'visitor:' || visitor_id) as actor
    from bl_touchpoints
    where (person_id is not null or visitor_id is not null) and occurred_at is not null
),
gaps as (
    select actor, touchpoint_id, person_id, occurred_at, channel, is_conversion,
        coalesce(occurred_at - lag(occurred_at) over by_actor > interval 30 minute, true)::integer as starts_session
    from actors
    window by_actor as (partition by actor order by occurred_at, touchpoint_id)
),
numbered as (
    select *, sum(starts_session) over (partition by actor order by occurred_at, touchpoint_id rows unbounded preceding) as session_number
    from gaps
)
select
    session_id, person_id, session_start, session_end, touchpoints,
    len(channels) as channels, array_to_string(channels, ',') as channel_list, entry_channel, converted
from (
    select
        actor || '#' || session_number as session_id,
        any_value(person_id) as person_id,
        min(occurred_at) as session_start,
        max(occurred_at) as session_end,
        count(*) as touchpoints,
        list_sort(list_distinct(list(channel))) as channels,  -- (5x faster than count/string_agg distinct)
        arg_min(channel, occurred_at) as entry_channel,
        bool_or(is_conversion) as converted
    from numbered
    group by actor, session_number
);
-- ;
-- customer_360: one row per person (component with at least one record node), with their activity.
create or replace table customer_360 as
with people as (
    select person_id,
        count(*) filter (where vertex like 'shop:%') as shop_customer_ids,
        count(*) filter (where vertex like 'esp:%') as esp_profiles,
        count(*) filter (where vertex like 'loyalty:%') as loyalty_memberships,
        count(*) filter (where vertex like 'card:%') as loyalty_cards,
        count(*) filter (where vertex like 'device:%') as iot_devices,
        count(*) filter (where vertex like 'email:%') as email_addresses
    from bl_identity
    group by person_id
    having count(*) filter (where vertex similar to '(shop|esp|loyalty|device|social|history):.*') > 0
),
activity as (
    select person_id,
        min(occurred_at) as first_seen_at, max(occurred_at) as last_seen_at,
        count(*) filter (where channel = 'web' and not is_conversion) as web_events,
        count(*) filter (where channel = 'email') as email_events,
        count(*) filter (where channel = 'social') as social_interactions,
        count(*) filter (where channel = 'device') as device_readings
    from bl_touchpoints where person_id is not null group by person_id
),
online as (
    select people.person_id, count(*) as online_orders, sum(try_cast(orders.total_price as decimal(18, 2))) as online_revenue
    from src_shop__orders as orders
    inner join bl_identity as people on people.vertex = 'shop:' || cast(orders.customer.id as varchar)
    where orders.cancelled_at is null
    group by people.person_id
),
store as (
    select people.person_id, count(*) as store_orders, sum(cast(receipts.total_amount as decimal(18, 2))) as store_revenue
    from src_loyalty__receipts as receipts
    inner join bl_identity as people on people.vertex = 'card:' || receipts.card_number
    where receipts.deleted_at is null
    group by people.person_id
),
imported as (
    select people.person_id, count(*) as imported_orders, sum(try_cast(history.amount as decimal(18, 2))) as imported_revenue
    from src_history__orders as history
    inner join bl_identity as people on people.vertex = 'history:' || history.order_id
    group by people.person_id
),
sessions as (
    select person_id, count(*) as sessions, count(*) filter (where converted) as converting_sessions
    from journey_sessions where person_id is not null group by person_id
)
select
    people.*,
    activity.first_seen_at, activity.last_seen_at,
    coalesce(activity.web_events, 0) as web_events,
    coalesce(activity.email_events, 0) as email_events,
    coalesce(activity.social_interactions, 0) as social_interactions,
    coalesce(activity.device_readings, 0) as device_readings,
    coalesce(online.online_orders, 0) as online_orders, coalesce(online.online_revenue, 0) as online_revenue,
    coalesce(store.store_orders, 0) as store_orders, coalesce(store.store_revenue, 0) as store_revenue,
    coalesce(imported.imported_orders, 0) as imported_orders, coalesce(imported.imported_revenue, 0) as imported_revenue,
    coalesce(sessions.sessions, 0) as sessions, coalesce(sessions.converting_sessions, 0) as converting_sessions
from people
left join activity using (person_id)
left join online using (person_id)
left join store using (person_id)
left join imported using (person_id)
left join sessions using (person_id);
