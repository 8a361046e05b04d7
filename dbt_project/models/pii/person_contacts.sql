-- One row per person (every person of marts.customer_360): the best contact values the sources hold, the shop
-- account's first, then the loyalty membership's, then the ESP profile's (as customer_360 chose them before it
-- became pseudonymous). Personal data: only schema pii holds it.
with identities as (
    select * from {{ ref('int_identity__identifier_map') }} where person_id is not null
),

people as (
    select distinct person_id from identities
),

shop as (
    select
        identities.person_id,
        min(customers.email_normalized) as email,
        min(customers.phone_normalized) as phone,
        min(customers.first_name) as first_name,
        min(customers.last_name) as last_name,
        min(customers.postcode) as postcode,
        min(customers.city) as city,
        min(customers.social_handle_normalized) as social_handle
    from identities
    inner join {{ ref('stg_shop__customers') }} as customers
        on identities.identifier_type = 'shop_customer' and identities.identifier_value = customers.shop_customer_id
    group by identities.person_id
),

loyalty as (
    select
        identities.person_id,
        min(members.email_normalized) as email,
        min(members.phone_normalized) as phone,
        min(members.first_name) as first_name,
        min(members.last_name) as last_name,
        min(members.postcode) as postcode,
        min(members.city) as city
    from identities
    inner join {{ ref('stg_loyalty__members') }} as members
        on identities.identifier_type = 'loyalty_member' and identities.identifier_value = members.loyalty_member_id
    group by identities.person_id
),

esp as (
    select
        identities.person_id,
        min(profiles.email_normalized) as email,
        min(profiles.first_name) as first_name,
        min(profiles.last_name) as last_name,
        min(profiles.postcode) as postcode,
        min(profiles.city) as city
    from identities
    inner join {{ ref('stg_esp__profiles') }} as profiles
        on identities.identifier_type = 'esp_contact' and identities.identifier_value = profiles.email_hash
    group by identities.person_id
),

social as (
    select identities.person_id, min(interactions.handle_normalized) as social_handle
    from identities
    inner join {{ ref('stg_social__interactions') }} as interactions
        on identities.identifier_type = 'social_handle' and identities.identifier_value = interactions.handle_hash
    group by identities.person_id
)

select
    people.person_id,
    coalesce(shop.email, esp.email, loyalty.email) as email,
    coalesce(shop.phone, loyalty.phone) as phone,
    coalesce(shop.first_name, loyalty.first_name, esp.first_name) as first_name,
    coalesce(shop.last_name, loyalty.last_name, esp.last_name) as last_name,
    coalesce(shop.postcode, loyalty.postcode, esp.postcode) as postcode,
    coalesce(shop.city, loyalty.city, esp.city) as city,
    coalesce(social.social_handle, shop.social_handle) as social_handle
from people
left join shop on people.person_id = shop.person_id
left join loyalty on people.person_id = loyalty.person_id
left join esp on people.person_id = esp.person_id
left join social on people.person_id = social.person_id
