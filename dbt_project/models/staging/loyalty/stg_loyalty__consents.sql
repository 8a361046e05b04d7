-- One row per consent decision a member gave at the till or in the app (purpose email_marketing | profiling |
-- ad_audiences): granted or withdrawn, and when.
select
    consent_id as loyalty_consent_id,
    member_id as loyalty_member_id,
    purpose,
    granted,
    cast(decided_at as timestamptz) as decided_at
from {{ source('loyalty', 'consents') }}
