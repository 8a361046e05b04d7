-- One row per planned campaign (config.meta.campaigns of marts.campaign_plan with a segment) and current member of
-- its segment (marts.segment_members): the arm, decided by a hash of person and campaign (macro holdout_bucket,
-- equal to activation.holdout.holdout_bucket in Python), so it never changes between builds.
with campaigns as (
    {{ activation_campaigns() }}
),

members as (
    select * from {{ ref('segment_members') }}
),

assigned as (
    select
        campaigns.campaign_id,
        members.person_id,
        campaigns.segment_id,
        campaigns.holdout_share,
        {{ holdout_bucket('members.person_id', 'campaigns.campaign_id') }} as holdout_bucket,
        members.entered_at
    from campaigns
    inner join members on campaigns.segment_id = members.segment_id
)

select
    cast(campaign_id as varchar) as campaign_id,
    cast(person_id as varchar) as person_id,
    cast(segment_id as varchar) as segment_id,
    cast(case when holdout_bucket < holdout_share then 'holdout' else 'treatment' end as varchar) as arm,
    cast(holdout_bucket as double precision) as holdout_bucket,
    cast(holdout_share as double precision) as holdout_share,
    entered_at as assigned_at
from assigned
