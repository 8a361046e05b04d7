{{ config(meta={'dagster': {'ref': {'name': 'campaign_performance'}}}) }}  {#- the Dagster asset this check belongs to #}
-- marts.campaign_performance against marts.touchpoints, campaign by campaign: sends, opens, clicks and
-- unsubscribes equal the e-mail touchpoints of the campaign (another path from the same ESP events: a join that
-- fans out or drops events shows here). Returns each campaign where a count differs.
with touchpoints as (
    select
        campaign as campaign_id,
        count(case when touchpoint_type = 'email_send' then 1 end) as sends,
        count(case when touchpoint_type = 'email_open' then 1 end) as opens,
        count(case when touchpoint_type = 'email_click' then 1 end) as clicks,
        count(case when touchpoint_type = 'email_unsubscribe' then 1 end) as unsubscribes
    from {{ ref('touchpoints') }}
    where channel = 'email'
    group by campaign
)

select campaigns.campaign_id, campaigns.sends, campaigns.opens, campaigns.clicks, campaigns.unsubscribes,
    touchpoints.sends as touchpoint_sends, touchpoints.opens as touchpoint_opens,
    touchpoints.clicks as touchpoint_clicks, touchpoints.unsubscribes as touchpoint_unsubscribes
from {{ ref('campaign_performance') }} as campaigns
left join touchpoints on campaigns.campaign_id = touchpoints.campaign_id
where campaigns.sends != coalesce(touchpoints.sends, 0)
    or campaigns.opens != coalesce(touchpoints.opens, 0)
    or campaigns.clicks != coalesce(touchpoints.clicks, 0)
    or campaigns.unsubscribes != coalesce(touchpoints.unsubscribes, 0)
