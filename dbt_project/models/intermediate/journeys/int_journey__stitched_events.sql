-- One row per storefront event with the person it belongs to. An event identifies its visitor (the browser's
-- first-party cookie) when it carries a login (user_id, a shop customer) or lands from a tracked e-mail link
-- (`_kx`, the ESP profile, whose address is an esp_contact identifier). Every event of the visitor belongs to
-- the person of that visitor's next identification, back in time; after its last one, to the person of the
-- last. Events of a visitor never identified keep person_id null.
with identities as (
    select * from {{ ref('int_identity__identifier_map') }}
),

identified as (
    select
        events.*,
        coalesce(logins.person_id, links.person_id) as own_person_id,
        case when logins.person_id is not null then 'login' when links.person_id is not null then 'email_link' end
            as identified_by
    from {{ ref('int_journey__storefront_events') }} as events
    left join identities as logins
        on logins.identifier_type = 'shop_customer' and logins.identifier_value = events.shop_customer_id
    left join {{ ref('stg_esp__profiles') }} as profiles on events.email_link_profile_id = profiles.esp_profile_id
    left join identities as links
        on links.identifier_type = 'esp_contact' and links.identifier_value = profiles.email_hash
)

select
    storefront_event_id,
    visitor_id,
    event_type,
    product_id,
    page_path,
    utm_source,
    utm_medium,
    utm_campaign,
    occurred_at,
    identified_by,
    coalesce(
        own_person_id,
        {{ value_ignoring_nulls(
            'first', 'own_person_id',
            'partition by visitor_id order by occurred_at, storefront_event_id
            rows between current row and unbounded following'
        ) }},
        {{ value_ignoring_nulls(
            'last', 'own_person_id',
            'partition by visitor_id order by occurred_at, storefront_event_id
            rows between unbounded preceding and current row'
        ) }}
    ) as person_id
from identified
