-- Klaviyo events carry a profile, not an address: the e-mail is the profile's (a left join, so an event
-- whose profile has no e-mail yet, or is not loaded yet, is kept with email_normalized null and linked once
-- the profile has one; tests/esp_events_without_an_email reports them without blocking anything).
select
    events.id as email_event_id,
    events.campaign_id,
    profiles.email_normalized,
    profiles.email_hash,
    case events.metric_name
        when 'Received Email' then 'send'
        when 'Opened Email' then 'open'
        when 'Clicked Email' then 'click'
        when 'Unsubscribed' then 'unsubscribe'
        when 'Received Control' then 'control'  -- held out of the campaign (its control group): no e-mail was sent
        else lower(replace(events.metric_name, ' ', '_'))
    end as event_type,
    {{ utc('events.' ~ adapter.quote('datetime')) }} as occurred_at,
    events.profile_id as esp_profile_id,
    events.metric_name
from {{ source('esp', 'events') }} as events
left join {{ ref('stg_esp__profiles') }} as profiles on events.profile_id = profiles.esp_profile_id
