-- One row per e-mail campaign (staging.stg_esp__campaigns): what the ESP recorded (every event of the campaign,
-- whether or not its recipient is resolved to a person) and the conversions attributed to it under each model:
-- credit earned by touchpoints of medium `email` that carry the campaign (its e-mail opens and clicks, and web
-- visits landing from its tracked links when their utm_campaign is the campaign id).
with campaigns as (
    select * from {{ ref('stg_esp__campaigns') }}
),

events as (
    select
        campaign_id,
        count(case when event_type = 'send' then 1 end) as sends,
        count(case when event_type = 'open' then 1 end) as opens,
        count(case when event_type = 'click' then 1 end) as clicks,
        count(case when event_type = 'unsubscribe' then 1 end) as unsubscribes,
        count(distinct case when event_type = 'send' then esp_profile_id end) as recipients,
        count(distinct case when event_type = 'open' then esp_profile_id end) as unique_openers,
        count(distinct case when event_type = 'click' then esp_profile_id end) as unique_clickers
    from {{ ref('stg_esp__events') }}
    group by campaign_id
),

attributed as (
    select
        campaign as campaign_id,
        {{- sum_attributed_by_model() }}
    from {{ ref('attribution') }}
    where medium = 'email' and campaign is not null
    group by campaign
)

select
    campaigns.campaign_id,
    campaigns.campaign_name,
    campaigns.subject,
    cast(campaigns.sent_at as timestamptz) as sent_at,
    coalesce(events.sends, 0) as sends,
    coalesce(events.opens, 0) as opens,
    coalesce(events.clicks, 0) as clicks,
    coalesce(events.unsubscribes, 0) as unsubscribes,
    coalesce(events.recipients, 0) as recipients,
    coalesce(events.unique_openers, 0) as unique_openers,
    coalesce(events.unique_clickers, 0) as unique_clickers,
    {{- attributed_by_model_columns('attributed') }}
from campaigns
left join events on campaigns.campaign_id = events.campaign_id
left join attributed on campaigns.campaign_id = attributed.campaign_id
