-- One row per person: identifiers, first/last seen, orders and revenue online and in store, email and
-- social activity, consent per purpose (marts.consent_current: the latest decision), journey traits (marts.journey_sessions) and value
-- traits (marts.customer_rfm, marts.customer_lifecycle_history, intermediate.int_value__transactions), experience
-- traits (marts.customer_engagement, the sentiment of the person's texts, marts.service_alerts).
with identities as (
    select * from {{ ref('int_identity__identifier_map') }}
),

identifier_counts as (
    select
        person_id,
        count(case when identifier_type = 'shop_customer' then 1 end) as shop_customer_ids,
        count(case when identifier_type = 'esp_contact' then 1 end) as email_addresses_at_esp,
        count(case when identifier_type = 'social_handle' then 1 end) as social_handles,
        count(case when identifier_type = 'loyalty_member' then 1 end) as loyalty_memberships,
        count(case when identifier_type = 'loyalty_card' then 1 end) as loyalty_cards,
        count(case when identifier_type = 'iot_device' then 1 end) as iot_devices,
        min(case when identifier_type = 'shop_customer' then identifier_value end) as primary_shop_customer_id,
        min(case when identifier_type = 'loyalty_member' then identifier_value end) as primary_loyalty_member_id
    from identities
    group by person_id
),

shop_profile as (
    select
        identities.person_id,
        min(customers.created_at) as first_account_created_at
    from identities
    inner join {{ ref('stg_shop__customers') }} as customers
        on identities.identifier_type = 'shop_customer' and identities.identifier_value = customers.shop_customer_id
    group by identities.person_id
),

loyalty_profile as (
    select
        identities.person_id,
        max(case when members.marketing_opt_in then 1 else 0 end) as loyalty_marketing_opt_in,
        min(members.joined_at) as joined_loyalty_at
    from identities
    inner join {{ ref('stg_loyalty__members') }} as members
        on identities.identifier_type = 'loyalty_member' and identities.identifier_value = members.loyalty_member_id
    group by identities.person_id
),

esp_profile as (
    select
        identities.person_id,
        max(case when events.event_type = 'unsubscribe' then 1 else 0 end) as unsubscribed
    from identities
    inner join {{ ref('stg_esp__events') }} as events
        on identities.identifier_type = 'esp_contact' and identities.identifier_value = events.email_hash
    group by identities.person_id
),

activity as (
    select
        person_id,
        min(occurred_at) as first_seen_at,
        max(occurred_at) as last_seen_at,
        count(case when touchpoint_type = 'order' then 1 end) as online_orders,
        sum(case when touchpoint_type = 'order' then revenue else 0 end) as online_revenue,
        count(case when touchpoint_type = 'receipt' then 1 end) as pos_receipts,
        sum(case when touchpoint_type = 'receipt' then revenue else 0 end) as pos_revenue,
        cast(sum(case when touchpoint_type = 'order' then items else 0 end) as bigint) as online_items_purchased,
        cast(sum(points) as bigint) as loyalty_points_earned,
        count(case when touchpoint_type = 'abandoned_checkout' then 1 end) as abandoned_checkouts,
        cast(sum(case when touchpoint_type = 'abandoned_checkout' then items else 0 end) as bigint) as abandoned_checkout_items,
        count(distinct case when touchpoint_type = 'email_send' then campaign_id end) as email_campaigns_reached,
        count(distinct post_id) as social_posts_engaged,
        count(case when channel = 'online' and touchpoint_type not in ('order', 'abandoned_checkout') then 1 end) as storefront_events,
        count(case when touchpoint_type = 'email_send' then 1 end) as email_sends,
        count(case when touchpoint_type = 'email_open' then 1 end) as email_opens,
        count(case when touchpoint_type = 'email_click' then 1 end) as email_clicks,
        count(case when channel = 'social' then 1 end) as social_interactions,
        count(case when channel = 'iot' then 1 end) as iot_readings
    from {{ ref('int_touchpoints') }}
    group by person_id
),

sessions as (
    select * from {{ ref('journey_sessions') }} where person_id is not null
),

-- the data's own "now": var('as_of') when set, else the newest session end (never the reader's clock)
as_of as (
    select
        {%- if var('as_of') %}
        cast('{{ var("as_of") }}' as timestamptz) as as_of_at
        {%- else %}
        max(session_end) as as_of_at from {{ ref('journey_sessions') }}
        {%- endif %}
),

session_traits as (
    select
        person_id,
        count(*) as sessions,
        {{ arg_min_by('entry_channel', ['session_start', 'session_id']) }} as first_channel,
        {{ arg_max_by('entry_channel', ['session_start', 'session_id']) }} as last_channel,
        max(session_end) as last_session_at
    from sessions
    group by person_id
),

channel_use as (
    -- sessions per person and channel (a session counts for every channel it touched)
    select sessions.person_id, channel_list.channel, count(*) as sessions, max(sessions.session_end) as last_used_at
    from sessions
    cross join {{ unnest_as(split_to_array('sessions.channel_list', "','"), 'channel_list', 'channel') }}
    group by sessions.person_id, channel_list.channel
),

preferred_channel as (
    select person_id, {{ arg_max_by('channel', ['sessions', 'last_used_at', 'channel']) }} as preferred_channel
    from channel_use
    group by person_id
),

-- value: purchases online, in store and imported up to the value models' as-of moment (intermediate.int_value__as_of)
value_traits as (
    select
        transactions.person_id,
        sum(transactions.amount) as historical_revenue,
        sum(case when transactions.source = 'history' then transactions.amount else 0 end) as imported_revenue,
        cast(date_trunc('month', min(transactions.purchase_date)) as date) as cohort_month
    from {{ ref('int_value__transactions') }} as transactions
    cross join {{ ref('int_value__as_of') }} as value_as_of
    where transactions.purchased_at <= value_as_of.as_of_at
    group by transactions.person_id
),

lifecycle as (
    select person_id, stage from {{ ref('customer_lifecycle_history') }} where is_current
),

-- experience: what the person wrote (social texts and product reviews) and its sentiment, up to the as-of moment
person_texts as (
    select identities.person_id, texts.occurred_at, texts.language, texts.sentiment_score, texts.sentiment_label
    from {{ ref('int_experience__text_sentiment') }} as texts
    inner join identities
        on texts.identifier_type = identities.identifier_type and texts.identifier_value = identities.identifier_value
    cross join {{ ref('int_value__as_of') }} as value_as_of
    where texts.occurred_at <= value_as_of.as_of_at
),

texts as (
    select
        person_id,
        count(*) as texts_written,
        avg(sentiment_score) as avg_text_sentiment,
        count(case when sentiment_label = 'negative' then 1 end) as negative_texts
    from person_texts
    group by person_id
),

-- the language of most of the person's texts; a tie goes to the language of the latest of them
preferred_language as (
    select person_id, {{ arg_max_by('language', ['texts', 'last_text_at']) }} as preferred_language
    from (
        select person_id, language, count(*) as texts, max(occurred_at) as last_text_at
        from person_texts
        where language is not null
        group by person_id, language
    ) as language_use
    group by person_id
),

reviews as (
    select identities.person_id, count(*) as product_reviews, avg(reviews.rating) as avg_review_rating
    from {{ ref('stg_shop__reviews') }} as reviews
    inner join identities
        on identities.identifier_type = 'shop_customer' and identities.identifier_value = reviews.shop_customer_id
    cross join {{ ref('int_value__as_of') }} as value_as_of
    where reviews.created_at <= value_as_of.as_of_at
    group by identities.person_id
),

alerts as (
    select person_id, count(*) as service_alerts, max(occurred_at) as last_service_alert_at
    from {{ ref('service_alerts') }}
    group by person_id
),

-- consent per purpose: the latest explicit decision across the person's records (marts.consent_current, one row per
-- person and purpose); no row = no decision = no consent
consent as (
    select
        person_id,
        {%- for purpose in ['email_marketing', 'profiling', 'device_data', 'ad_audiences'] %}
        coalesce(bool_or(case when purpose = '{{ purpose }}' then granted end), false) as consent_{{ purpose }},
        max(case when purpose = '{{ purpose }}' then decided_at end) as consent_{{ purpose }}_at{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ ref('consent_current') }}
    group by person_id
)

select
    ids.person_id,
    ids.primary_shop_customer_id,
    ids.primary_loyalty_member_id,
    ids.shop_customer_ids,
    ids.email_addresses_at_esp,
    ids.social_handles,
    ids.loyalty_memberships,
    ids.loyalty_cards,
    ids.iot_devices,
    least(
        coalesce(activity.first_seen_at, shop_profile.first_account_created_at, loyalty_profile.joined_loyalty_at),
        coalesce(shop_profile.first_account_created_at, activity.first_seen_at, loyalty_profile.joined_loyalty_at),
        coalesce(loyalty_profile.joined_loyalty_at, activity.first_seen_at, shop_profile.first_account_created_at)
    ) as first_seen_at,
    activity.last_seen_at,
    coalesce(activity.online_orders, 0) as online_orders,
    {{ money('coalesce(activity.online_revenue, 0)') }} as online_revenue,
    coalesce(activity.pos_receipts, 0) as pos_receipts,
    {{ money('coalesce(activity.pos_revenue, 0)') }} as pos_revenue,
    {{ money('coalesce(activity.online_revenue, 0) + coalesce(activity.pos_revenue, 0)') }} as total_revenue,
    coalesce(activity.online_items_purchased, 0) as online_items_purchased,
    coalesce(activity.loyalty_points_earned, 0) as loyalty_points_earned,
    coalesce(activity.abandoned_checkouts, 0) as abandoned_checkouts,
    coalesce(activity.abandoned_checkout_items, 0) as abandoned_checkout_items,
    coalesce(activity.email_campaigns_reached, 0) as email_campaigns_reached,
    coalesce(activity.social_posts_engaged, 0) as social_posts_engaged,
    coalesce(activity.storefront_events, 0) as storefront_events,
    coalesce(activity.email_sends, 0) as email_sends,
    coalesce(activity.email_opens, 0) as email_opens,
    coalesce(activity.email_clicks, 0) as email_clicks,
    coalesce(activity.social_interactions, 0) as social_interactions,
    coalesce(activity.iot_readings, 0) as iot_readings,
    -- consent: the latest explicit decision per purpose across the person's records (never an OR); none = no consent
    coalesce(consent.consent_email_marketing, false) as email_marketing_consent,
    coalesce(consent.consent_email_marketing, false) as consent_email_marketing,
    consent.consent_email_marketing_at,
    coalesce(consent.consent_profiling, false) as consent_profiling,
    consent.consent_profiling_at,
    coalesce(consent.consent_device_data, false) as consent_device_data,
    consent.consent_device_data_at,
    coalesce(consent.consent_ad_audiences, false) as consent_ad_audiences,
    consent.consent_ad_audiences_at,
    coalesce(loyalty_profile.loyalty_marketing_opt_in, 0) = 1 as loyalty_marketing_consent,
    ids.iot_devices > 0 as iot_opt_in,
    coalesce(esp_profile.unsubscribed, 0) = 1 as email_unsubscribed,
    coalesce(engagement.consented_devices, 0) as consented_devices,
    coalesce(session_traits.sessions, 0) as sessions,
    session_traits.first_channel,
    session_traits.last_channel,
    cast(floor(({{ epoch_seconds('as_of.as_of_at') }} - {{ epoch_seconds('session_traits.last_session_at') }}) / 86400) as integer) as days_since_last_session,
    preferred_channel.preferred_channel,
    rfm.segment as rfm_segment,
    lifecycle.stage as lifecycle_stage,
    cast(coalesce(value_traits.historical_revenue, 0) as decimal(18, 2)) as historical_revenue,
    cast(coalesce(value_traits.imported_revenue, 0) as decimal(18, 2)) as imported_revenue,
    value_traits.cohort_month,
    customer_clv.p_alive,
    customer_clv.clv_12m,
    engagement.engagement_score,
    engagement.engagement_tier,
    engagement.email_open_rate,
    engagement.email_click_rate,
    engagement.days_since_last_email_open,
    engagement.social_interactions as social_interactions_in_window,
    engagement.store_visits as store_visits_in_window,
    engagement.storefront_active_days as storefront_active_days_in_window,
    engagement.device_active_days as device_active_days_in_window,
    coalesce(texts.texts_written, 0) as texts_written,
    cast({{ round_to('texts.avg_text_sentiment', 4) }} as double precision) as avg_text_sentiment,
    coalesce(texts.negative_texts, 0) as negative_texts,
    preferred_language.preferred_language,
    coalesce(reviews.product_reviews, 0) as product_reviews,
    cast({{ round_to('reviews.avg_review_rating', 2) }} as double precision) as avg_review_rating,
    coalesce(alerts.service_alerts, 0) as service_alerts,
    alerts.last_service_alert_at
from identifier_counts as ids  -- one row per person_id
cross join as_of
left join shop_profile on ids.person_id = shop_profile.person_id
left join loyalty_profile on ids.person_id = loyalty_profile.person_id
left join esp_profile on ids.person_id = esp_profile.person_id
left join activity on ids.person_id = activity.person_id
left join session_traits on ids.person_id = session_traits.person_id
left join preferred_channel on ids.person_id = preferred_channel.person_id
left join {{ ref('customer_rfm') }} as rfm on ids.person_id = rfm.person_id
left join lifecycle on ids.person_id = lifecycle.person_id
left join value_traits on ids.person_id = value_traits.person_id
left join {{ ref('customer_clv') }} as customer_clv on ids.person_id = customer_clv.person_id
left join {{ ref('customer_engagement') }} as engagement on ids.person_id = engagement.person_id
left join texts on ids.person_id = texts.person_id
left join preferred_language on ids.person_id = preferred_language.person_id
left join reviews on ids.person_id = reviews.person_id
left join alerts on ids.person_id = alerts.person_id
left join consent on ids.person_id = consent.person_id
