-- One ESP profile per address (Klaviyo keeps one per e-mail); the e-mail may be missing (a profile known by
-- phone or id only, or an address removed): events link through the profile id and get its e-mail here.
select
    id as esp_profile_id,
    {{ normalize_email('email') }} as email_normalized,
    {{ keyed_hash(normalize_email('email')) }} as email_hash,
    cast(first_name as varchar) as first_name,
    cast(last_name as varchar) as last_name,
    cast(postcode as varchar) as postcode,
    cast(city as varchar) as city,
    email_consent,
    {{ utc('email_consent_at') }} as email_consent_at,
    email_consent_method,
    coalesce(email_double_optin, false) as email_double_optin,
    {{ utc('created') }} as created_at,
    {{ utc('updated') }} as updated_at
from {{ source('esp', 'profiles') }}
