-- Reported, never blocking: ESP events whose profile has no e-mail (or is not loaded yet). They are kept in
-- staging and reach the identity graph as soon as their profile has an address; until then no person has them.
{{ config(severity='warn') }}
select email_event_id, esp_profile_id
from {{ ref('stg_esp__events') }}
where email_normalized is null
