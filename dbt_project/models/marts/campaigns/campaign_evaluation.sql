-- One row per e-mail campaign (staging.stg_esp__campaigns): its randomised holdout read as an experiment. The treated
-- are the people the campaign was sent to (a send event), the holdout the people it held out (a control event and no
-- send: the ESP's control group); a conversion is a purchase of the person (intermediate.int_value__transactions: paid
-- online orders, receipts on a known card) within var('campaign_conversion_window_days') days after their e-mail
-- arrived (treated) or after the campaign's send time (holdout). Uplift: the difference of the conversion rates with
-- Newcombe's hybrid score interval, and of revenue per person with Welch's interval (choices: _campaigns__docs.md).
-- Events whose profile resolves to no person count in sends/opens/clicks, not in the people of either arm.
{%- set window_days = var('campaign_conversion_window_days') %}
with campaigns as (
    select campaign_id, campaign_name, cast(sent_at as timestamptz) as sent_at
    from {{ ref('stg_esp__campaigns') }}
),

identities as (
    select identifier_value, person_id
    from {{ ref('int_identity__identifier_map') }}
    where identifier_type = 'esp_contact' and person_id is not null
),

events as (
    select
        campaign_id,
        count(case when event_type = 'send' then 1 end) as sends,
        count(case when event_type = 'open' then 1 end) as opens,
        count(case when event_type = 'click' then 1 end) as clicks
    from {{ ref('stg_esp__events') }}
    where campaign_id is not null
    group by campaign_id
),

-- a person in both arms (two of their addresses split between them) counts as treated: something reached them
assigned as (
    select
        events.campaign_id,
        identities.person_id,
        min(case when events.event_type = 'send' then cast(events.occurred_at as timestamptz) end) as first_send_at
    from {{ ref('stg_esp__events') }} as events
    inner join identities on events.email_hash = identities.identifier_value
    where events.event_type in ('send', 'control') and events.campaign_id is not null
    group by events.campaign_id, identities.person_id
),

arms as (
    select
        assigned.campaign_id,
        assigned.person_id,
        assigned.first_send_at is not null as is_treated,
        coalesce(assigned.first_send_at, campaigns.sent_at) as window_start_at
    from assigned
    inner join campaigns on assigned.campaign_id = campaigns.campaign_id
),

outcomes as (
    select
        arms.campaign_id,
        arms.person_id,
        arms.is_treated,
        count(purchases.transaction_id) as purchases,
        coalesce(sum(purchases.amount), 0) as revenue
    from arms
    left join {{ ref('int_value__transactions') }} as purchases
        on arms.person_id = purchases.person_id
        and purchases.purchased_at >= arms.window_start_at
        and purchases.purchased_at < arms.window_start_at + interval '{{ window_days }} days'
    group by arms.campaign_id, arms.person_id, arms.is_treated
),

per_campaign as (
    select
        campaign_id,
        count(case when is_treated then 1 end) as treated_people,
        count(case when not is_treated then 1 end) as holdout_people,
        count(case when is_treated and purchases > 0 then 1 end) as treated_converters,
        count(case when not is_treated and purchases > 0 then 1 end) as holdout_converters,
        avg(case when is_treated then cast(revenue as double precision) end) as revenue_per_treated,
        avg(case when not is_treated then cast(revenue as double precision) end) as revenue_per_holdout,
        var_samp(case when is_treated then cast(revenue as double precision) end) as treated_revenue_variance,
        var_samp(case when not is_treated then cast(revenue as double precision) end) as holdout_revenue_variance
    from outcomes
    group by campaign_id
),

rates as (
    select
        campaigns.campaign_id,
        campaigns.campaign_name,
        campaigns.sent_at,
        coalesce(per_campaign.treated_people, 0) as treated_people,
        coalesce(per_campaign.holdout_people, 0) as holdout_people,
        coalesce(per_campaign.treated_converters, 0) as treated_converters,
        coalesce(per_campaign.holdout_converters, 0) as holdout_converters,
        cast(per_campaign.treated_converters as double precision) / nullif(per_campaign.treated_people, 0) as treated_rate,
        cast(per_campaign.holdout_converters as double precision) / nullif(per_campaign.holdout_people, 0) as holdout_rate,
        per_campaign.revenue_per_treated,
        per_campaign.revenue_per_holdout,
        -- Welch: the standard error of the difference of means and its Welch-Satterthwaite degrees of freedom
        sqrt(per_campaign.treated_revenue_variance / per_campaign.treated_people
            + per_campaign.holdout_revenue_variance / per_campaign.holdout_people) as revenue_se,
        power(per_campaign.treated_revenue_variance / per_campaign.treated_people
            + per_campaign.holdout_revenue_variance / per_campaign.holdout_people, 2)
        / nullif(
            power(per_campaign.treated_revenue_variance / per_campaign.treated_people, 2) / (per_campaign.treated_people - 1)
            + power(per_campaign.holdout_revenue_variance / per_campaign.holdout_people, 2) / (per_campaign.holdout_people - 1),
            0
        ) as revenue_df,
        coalesce(events.sends, 0) as sends,
        coalesce(events.opens, 0) as opens,
        coalesce(events.clicks, 0) as clicks
    from campaigns
    left join per_campaign on campaigns.campaign_id = per_campaign.campaign_id
    left join events on campaigns.campaign_id = events.campaign_id
),

intervals as (
    select
        *,
        {{ wilson_bound('treated_converters', 'nullif(treated_people, 0)', 'low') }} as treated_low,
        {{ wilson_bound('treated_converters', 'nullif(treated_people, 0)', 'high') }} as treated_high,
        {{ wilson_bound('holdout_converters', 'nullif(holdout_people, 0)', 'low') }} as holdout_low,
        {{ wilson_bound('holdout_converters', 'nullif(holdout_people, 0)', 'high') }} as holdout_high
    from rates
)

select
    campaign_id,
    campaign_name,
    sent_at,
    cast({{ window_days }} as integer) as conversion_window_days,
    sent_at + interval '{{ window_days }} days' <= (select as_of_at from {{ ref('int_value__as_of') }}) as is_window_complete,
    treated_people,
    holdout_people,
    treated_converters,
    holdout_converters,
    treated_rate as treated_conversion_rate,
    holdout_rate as holdout_conversion_rate,
    treated_rate - holdout_rate as uplift,
    -- Newcombe (1998), method 10: the Wilson intervals of both rates combined
    treated_rate - holdout_rate
    - sqrt(power(treated_rate - treated_low, 2) + power(holdout_high - holdout_rate, 2)) as uplift_ci_low,
    treated_rate - holdout_rate
    + sqrt(power(treated_high - treated_rate, 2) + power(holdout_rate - holdout_low, 2)) as uplift_ci_high,
    revenue_per_treated,
    revenue_per_holdout,
    revenue_per_treated - revenue_per_holdout as revenue_uplift,
    case
        when revenue_se = 0 then revenue_per_treated - revenue_per_holdout
        else revenue_per_treated - revenue_per_holdout - {{ t_quantile_975('revenue_df') }} * revenue_se
    end as revenue_uplift_ci_low,
    case
        when revenue_se = 0 then revenue_per_treated - revenue_per_holdout
        else revenue_per_treated - revenue_per_holdout + {{ t_quantile_975('revenue_df') }} * revenue_se
    end as revenue_uplift_ci_high,
    sends,
    opens,
    clicks
from intervals
