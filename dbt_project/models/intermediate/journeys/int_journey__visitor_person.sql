-- One row per identified storefront visitor (first-party cookie `domain_userid`): the person it was
-- identified as, by a login (an event with the shop customer's user_id) or by a tracked e-mail link (`_kx`,
-- the ESP profile, whose address is an esp_contact identifier). A visitor identified as more than one person
-- (a shared computer) belongs to the latest; touchpoints resolve each event to the nearest identification.
with events as (
    select * from {{ ref('int_journey__storefront_events') }}
    where visitor_id is not null
),

identities as (
    select * from {{ ref('int_identity__identifier_map') }}
),

identifications as (
    select events.visitor_id, events.storefront_event_id, events.occurred_at, 'login' as method, identities.person_id
    from events
    inner join identities
        on identities.identifier_type = 'shop_customer' and identities.identifier_value = events.shop_customer_id
    union all
    select events.visitor_id, events.storefront_event_id, events.occurred_at, 'email_link', identities.person_id
    from events
    inner join {{ ref('stg_esp__profiles') }} as profiles on events.email_link_profile_id = profiles.esp_profile_id
    inner join identities
        on identities.identifier_type = 'esp_contact' and identities.identifier_value = profiles.email_normalized
    where events.shop_customer_id is null
)

select
    visitor_id,
    arg_max(person_id, occurred_at::varchar || storefront_event_id) as person_id,
    min(occurred_at) as first_identified_at,
    max(occurred_at) as last_identified_at,
    arg_min(method, occurred_at::varchar || storefront_event_id) as first_identified_by,
    count(*) as identifications,
    count(distinct person_id) as persons
from identifications
group by visitor_id
