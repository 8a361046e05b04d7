-- No planned send goes to a person in the campaign's holdout: the bucket recomputed from person and campaign (macro
-- holdout_bucket) against the campaign's share in the YAML, not the plan's own columns (rows of a campaign since
-- removed from the YAML are not judged: its share is gone).
with campaigns as (
    {{ activation_campaigns() }}
)

select plan.campaign_id, plan.person_id, plan.week
from {{ ref('campaign_plan') }} as plan
inner join campaigns on plan.campaign_id = campaigns.campaign_id
where {{ holdout_bucket('plan.person_id', 'plan.campaign_id') }} < campaigns.holdout_share
