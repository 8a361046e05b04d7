-- One row per person as of int_value__as_of: e-mail, social, loyalty, storefront and consented device activity in
-- the var `engagement_window_days` days up to that moment, recency of each, and the engagement score (0-100; the
-- formula in _experience__docs.md). Only what happened up to the as-of moment counts.
with as_of as (
    select
        as_of_at,
        as_of_date,
        as_of_at - interval '{{ var('engagement_window_days') }} days' as window_start
    from {{ ref('int_value__as_of') }}
),

people as (
    select distinct person_id from {{ ref('int_identity__identifier_map') }}
),

touchpoints as (
    select touchpoints.*, touchpoints.occurred_at > as_of.window_start as in_window
    from {{ ref('int_touchpoints') }} as touchpoints
    cross join as_of
    where touchpoints.occurred_at <= as_of.as_of_at
),

-- e-mail: per campaign received in the window, whether the person opened or clicked it (up to the as-of moment)
campaigns as (
    select
        person_id,
        campaign_id,
        max(case when touchpoint_type = 'email_send' and in_window then 1 else 0 end) as received,
        max(case when touchpoint_type = 'email_open' then 1 else 0 end) as opened,
        max(case when touchpoint_type = 'email_click' then 1 else 0 end) as clicked
    from touchpoints
    where channel = 'email' and campaign_id is not null
    group by person_id, campaign_id
),

email as (
    select
        person_id,
        count(case when received = 1 then 1 end) as campaigns_received,
        count(case when received = 1 and opened = 1 then 1 end) as campaigns_opened,
        count(case when received = 1 and clicked = 1 then 1 end) as campaigns_clicked
    from campaigns
    group by person_id
),

activity as (
    select
        person_id,
        max(case when touchpoint_type = 'email_open' then occurred_at end) as last_email_open_at,
        max(case when touchpoint_type = 'email_click' then occurred_at end) as last_email_click_at,
        count(case when channel = 'social' and in_window then 1 end) as social_interactions,
        max(case when channel = 'social' then occurred_at end) as last_social_at,
        count(case when touchpoint_type = 'receipt' and in_window then 1 end) as store_visits,
        sum(case when channel = 'pos' and in_window then points else 0 end) as loyalty_points,
        max(case when touchpoint_type = 'receipt' then occurred_at end) as last_store_visit_at,
        count(case when touchpoint_type = 'order' and in_window then 1 end) as online_orders
    from touchpoints
    group by person_id
),

-- storefront: marts.touchpoints, where a visitor's events belong to the person once stitched (a login or a tracked
-- e-mail link, earlier events too) and a device clock ahead of the collector is put back at the collector's time
storefront as (
    select
        storefront_touchpoints.person_id,
        count(case when storefront_touchpoints.occurred_at > as_of.window_start then 1 end) as storefront_events,
        count(distinct case when storefront_touchpoints.occurred_at > as_of.window_start
            then cast(timezone('UTC', storefront_touchpoints.occurred_at) as date) end) as storefront_active_days,
        max(storefront_touchpoints.occurred_at) as last_storefront_at
    from {{ ref('touchpoints') }} as storefront_touchpoints
    cross join as_of
    where storefront_touchpoints.person_id is not null
        and storefront_touchpoints.channel = 'online'
        and storefront_touchpoints.touchpoint_type <> 'abandoned_checkout'
        and storefront_touchpoints.occurred_at <= as_of.as_of_at
    group by storefront_touchpoints.person_id
),

-- consented devices: linked to the person while the consent holds now; their days from marts.device_daily_features,
-- which links a device's days to its person only then (nothing recorded after a withdrawal is there)
devices as (
    select identities.person_id, count(*) as consented_devices
    from {{ ref('int_identity__identifier_map') }} as identities
    inner join {{ ref('int_iot__device_consent_periods') }} as periods
        on identities.identifier_value = periods.device_id and periods.valid_to is null
    where identities.identifier_type = 'iot_device'
    group by identities.person_id
),

device_days as (
    select
        features.person_id,
        count(case when features.day > as_of.as_of_date - {{ var('engagement_window_days') }} then 1 end)
            as device_active_days,
        max(features.last_seen_at) as last_device_reading_at
    from {{ ref('device_daily_features') }} as features
    cross join as_of
    where features.person_id is not null
    group by features.person_id
),

measured as (
    select
        people.person_id,
        as_of.as_of_date,
        coalesce(email.campaigns_received, 0) as email_campaigns_received,
        coalesce(email.campaigns_opened, 0) as email_campaigns_opened,
        coalesce(email.campaigns_clicked, 0) as email_campaigns_clicked,
        activity.last_email_open_at,
        activity.last_email_click_at,
        coalesce(activity.social_interactions, 0) as social_interactions,
        activity.last_social_at,
        coalesce(activity.store_visits, 0) as store_visits,
        coalesce(activity.loyalty_points, 0) as loyalty_points,
        activity.last_store_visit_at,
        coalesce(storefront.storefront_events, 0) as storefront_events,
        coalesce(storefront.storefront_active_days, 0) as storefront_active_days,
        coalesce(activity.online_orders, 0) as online_orders,
        storefront.last_storefront_at,
        coalesce(devices.consented_devices, 0) as consented_devices,
        coalesce(device_days.device_active_days, 0) as device_active_days,
        device_days.last_device_reading_at
    from people
    cross join as_of
    left join email on people.person_id = email.person_id
    left join activity on people.person_id = activity.person_id
    left join storefront on people.person_id = storefront.person_id
    left join devices on people.person_id = devices.person_id
    left join device_days on people.person_id = device_days.person_id
),

{%- set engagement_sum -%}
    {{ engagement_part('email_campaigns_opened + email_campaigns_clicked', 'email') }}
    + {{ engagement_part('social_interactions', 'social') }}
    + {{ engagement_part('store_visits', 'loyalty') }}
    + {{ engagement_part('storefront_active_days', 'storefront') }}
    + {{ engagement_part('device_active_days', 'device') }}
{%- endset %}

scored as (
    select
        *,
        {{ round_to(engagement_sum, 1) }} as engagement_score
    from measured
)

select
    person_id,
    as_of_date,
    email_campaigns_received,
    email_campaigns_opened,
    email_campaigns_clicked,
    case when email_campaigns_received > 0
        then {{ round_to('cast(email_campaigns_opened as double precision) / email_campaigns_received', 4) }} end as email_open_rate,
    case when email_campaigns_received > 0
        then {{ round_to('cast(email_campaigns_clicked as double precision) / email_campaigns_received', 4) }} end as email_click_rate,
    cast({{ days_since_as_of('last_email_open_at') }} as integer) as days_since_last_email_open,
    cast({{ days_since_as_of('last_email_click_at') }} as integer) as days_since_last_email_click,
    social_interactions,
    cast({{ days_since_as_of('last_social_at') }} as integer) as days_since_last_social_interaction,
    store_visits,
    cast(loyalty_points as bigint) as loyalty_points,
    cast({{ days_since_as_of('last_store_visit_at') }} as integer) as days_since_last_store_visit,
    storefront_events,
    storefront_active_days,
    online_orders,
    cast({{ days_since_as_of('last_storefront_at') }} as integer) as days_since_last_storefront_visit,
    consented_devices,
    device_active_days,
    cast({{ days_since_as_of('last_device_reading_at') }} as integer) as days_since_last_device_reading,
    cast(engagement_score as double precision) as engagement_score,
    case
        when engagement_score >= 60 then 'high'
        when engagement_score >= 30 then 'medium'
        when engagement_score > 0 then 'low'
        else 'none'
    end as engagement_tier
from scored
