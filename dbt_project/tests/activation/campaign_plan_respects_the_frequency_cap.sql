-- No person gets more planned sends in an ISO week than config.meta.frequency_cap_per_week of marts.campaign_plan,
-- across every campaign and every build of that week.
{%- set cap = activation_meta('campaign_plan').get('frequency_cap_per_week', 0) %}
select person_id, week, count(*) as sends
from {{ ref('campaign_plan') }}
group by person_id, week
having count(*) > {{ cap }}
