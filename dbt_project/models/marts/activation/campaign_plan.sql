-- One row per planned send: campaign, person and ISO week of the as-of date. Only the treatment arm
-- (marts.campaign_assignments) of campaigns that send messages (destination esp or webhook; ad audiences are
-- exported from the segment, not planned), only people with e-mail marketing consent (marts.customer_360) and, for
-- the ESP, an ESP profile (marts.person_source_ids). At most config.meta.frequency_cap_per_week sends per person and
-- week across campaigns, the lowest priority number first. Incremental: sends planned earlier in the week stay and
-- count toward the cap, so a later build of the same week adds only what still fits. People left out are not
-- recorded: the assignments and the inputs say why (holdout, no consent, no profile, cap).
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
    )
}}
{%- set cap = activation_meta('campaign_plan').get('frequency_cap_per_week', 0) %}

with campaigns as (
    {{ activation_campaigns() }}
),

planned_week as (
    select as_of_date as planned_for, {{ iso_week_label('as_of_date') }} as week from {{ ref('int_value__as_of') }}
),

esp_profiles as (
    select person_id, min(source_id) as esp_profile_id
    from {{ ref('person_source_ids') }}
    where id_type = 'esp_profile'
    group by person_id
),

candidates as (
    select
        assignments.campaign_id,
        assignments.person_id,
        esp_profiles.esp_profile_id,
        campaigns.destination,
        campaigns.template,
        campaigns.priority,
        assignments.holdout_bucket,
        assignments.holdout_share
    from {{ ref('campaign_assignments') }} as assignments
    inner join campaigns on assignments.campaign_id = campaigns.campaign_id
    inner join {{ ref('customer_360') }} as people on assignments.person_id = people.person_id
    left join esp_profiles on assignments.person_id = esp_profiles.person_id
    where assignments.arm = 'treatment'
        and campaigns.destination in ('esp', 'webhook')
        and people.consent_email_marketing
        and (campaigns.destination <> 'esp' or esp_profiles.esp_profile_id is not null)
),

already_planned as (
    {%- if is_incremental() %}
    select campaign_id, person_id from {{ this }} where week = (select week from planned_week)
    {%- else %}
    select cast(null as varchar) as campaign_id, cast(null as varchar) as person_id where false
    {%- endif %}
),

already_per_person as (
    select person_id, count(*) as sends from already_planned group by person_id
),

ranked as (
    select
        candidates.*,
        coalesce(already_per_person.sends, 0)
            + row_number() over (partition by candidates.person_id order by candidates.priority, candidates.campaign_id) as send_of_week
    from candidates
    left join already_per_person on candidates.person_id = already_per_person.person_id
    where not exists (
        select 1 from already_planned
        where already_planned.campaign_id = candidates.campaign_id and already_planned.person_id = candidates.person_id
    )
)

select
    cast(ranked.campaign_id as varchar) as campaign_id,
    cast(ranked.person_id as varchar) as person_id,
    cast(ranked.esp_profile_id as varchar) as esp_profile_id,
    cast(planned_week.week as varchar) as week,
    cast(planned_week.planned_for as date) as planned_for,
    cast(ranked.destination as varchar) as destination,
    cast(ranked.template as varchar) as template,
    cast(ranked.priority as integer) as priority,
    cast(ranked.send_of_week as integer) as send_of_week,
    cast(ranked.holdout_bucket as double precision) as holdout_bucket,
    cast(ranked.holdout_share as double precision) as holdout_share,
    cast('{{ run_started_at.isoformat() }}' as timestamptz) as planned_at
from ranked
cross join planned_week
where ranked.send_of_week <= {{ cap }}
