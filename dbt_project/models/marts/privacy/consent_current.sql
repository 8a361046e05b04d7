-- One row per person and purpose with at least one recorded decision: the latest explicit decision across all of
-- the person's records (marts.consent_events), never an OR of them. At the same moment a withdrawal wins (then the
-- event id, to stay deterministic). No decision = no row = no consent.
select
    person_id,
    purpose,
    {{ arg_max_by('decision', ['decided_at', "decision = 'withdrawn'", 'event_id']) }} = 'granted' as granted,
    max(decided_at) as decided_at,
    {{ arg_max_by('source_system', ['decided_at', "decision = 'withdrawn'", 'event_id']) }} as source_system,
    count(*) as decisions
from {{ ref('consent_events') }}
group by person_id, purpose
