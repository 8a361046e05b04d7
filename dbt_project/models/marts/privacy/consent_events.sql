-- One row per consent decision a source system recorded for a person, per purpose: granted or withdrawn, when, in
-- which system, and when a double opt-in was confirmed (where the source has one). Sources:
--   shop     the customer's accepts_marketing with accepts_marketing_updated_at (null = never asked: no decision);
--            marketing_opt_in_level confirmed_opt_in = a double opt-in, confirmed at that moment
--   esp      the profile's SUBSCRIBED state (its consent timestamp; a double opt-in's confirmation) and every
--            unsubscribe event; an UNSUBSCRIBED profile without an unsubscribe event counts once, at its timestamp
--   loyalty  loyalty.consents (email_marketing, profiling, ad_audiences)
--   iot      every registry statement of a device (purpose device_data); a device is linked to its person only while
--            its consent holds now (the source strips the owner of a withdrawn device), so a withdrawn device's
--            statements have no person and are not here: its person has no device_data consent either way
-- Records link to people through intermediate.int_identity__identifier_map.
with identities as (
    select * from {{ ref('int_identity__identifier_map') }}
),

shop as (
    select
        identities.person_id,
        'email_marketing' as purpose,
        case when customers.accepts_marketing then 'granted' else 'withdrawn' end as decision,
        'shop' as source_system,
        customers.shop_customer_id as source_record_id,
        cast(customers.accepts_marketing_updated_at as timestamptz) as decided_at,
        case
            when customers.accepts_marketing and customers.marketing_opt_in_level = 'confirmed_opt_in'
                then cast(customers.accepts_marketing_updated_at as timestamptz)
        end as double_opt_in_confirmed_at
    from {{ ref('stg_shop__customers') }} as customers
    inner join identities
        on identities.identifier_type = 'shop_customer' and identities.identifier_value = customers.shop_customer_id
    where customers.accepts_marketing_updated_at is not null and customers.accepts_marketing is not null
),

-- ESP records link by their address (identifier type esp_contact)
esp_profiles as (
    select identities.person_id, profiles.*
    from {{ ref('stg_esp__profiles') }} as profiles
    inner join identities
        on identities.identifier_type = 'esp_contact' and identities.identifier_value = profiles.email_hash
),

esp_unsubscribes as (
    select identities.person_id, events.esp_profile_id, events.email_event_id, events.occurred_at
    from {{ ref('stg_esp__events') }} as events
    inner join identities
        on identities.identifier_type = 'esp_contact' and identities.identifier_value = events.email_hash
    where events.event_type = 'unsubscribe'
),

esp as (
    select
        person_id,
        'email_marketing' as purpose,
        case when email_consent = 'SUBSCRIBED' then 'granted' else 'withdrawn' end as decision,
        'esp' as source_system,
        esp_profile_id as source_record_id,
        cast(email_consent_at as timestamptz) as decided_at,
        case when email_consent = 'SUBSCRIBED' and email_double_optin then cast(email_consent_at as timestamptz) end
            as double_opt_in_confirmed_at
    from esp_profiles
    where email_consent_at is not null
        and (
            email_consent = 'SUBSCRIBED'
            or (email_consent = 'UNSUBSCRIBED' and esp_profile_id not in (select esp_profile_id from esp_unsubscribes))
        )
    union all
    select
        person_id,
        'email_marketing',
        'withdrawn',
        'esp',
        esp_profile_id,
        cast(occurred_at as timestamptz),
        cast(null as timestamptz)
    from esp_unsubscribes
),

loyalty as (
    select
        identities.person_id,
        consents.purpose,
        case when consents.granted then 'granted' else 'withdrawn' end as decision,
        'loyalty' as source_system,
        consents.loyalty_member_id as source_record_id,
        cast(consents.decided_at as timestamptz) as decided_at,
        cast(null as timestamptz) as double_opt_in_confirmed_at
    from {{ ref('stg_loyalty__consents') }} as consents
    inner join identities
        on identities.identifier_type = 'loyalty_member' and identities.identifier_value = consents.loyalty_member_id
),

iot as (
    select distinct
        identities.person_id,
        'device_data' as purpose,
        case when consents.opted_in then 'granted' else 'withdrawn' end as decision,
        'iot' as source_system,
        consents.device_id as source_record_id,
        cast(consents.changed_at as timestamptz) as decided_at,
        cast(null as timestamptz) as double_opt_in_confirmed_at
    from {{ ref('stg_iot__device_consents') }} as consents
    inner join identities
        on identities.identifier_type = 'iot_device' and identities.identifier_value = consents.device_id
),

events as (
    select * from shop
    union all
    select * from esp
    union all
    select * from loyalty
    union all
    select * from iot
)

select distinct
    source_system || ':' || source_record_id || ':' || purpose || ':' || decision || ':'
        || {{ compact_utc_timestamp('decided_at') }} as event_id,
    person_id,
    purpose,
    decision,
    source_system,
    source_record_id,
    decided_at,
    double_opt_in_confirmed_at
from events
where decided_at is not null
