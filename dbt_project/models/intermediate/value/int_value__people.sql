-- One row per person of intermediate.int_identity__identifier_map: the UTC day the warehouse first knows of them
-- (first touchpoint, shop account created, loyalty membership joined or first purchase, whichever is earliest, and
-- never after the as-of day) and their first and last purchase day up to the as-of moment (null: never bought).
with as_of as (
    select * from {{ ref('int_value__as_of') }}
),

identities as (
    select * from {{ ref('int_identity__identifier_map') }} where person_id is not null
),

known_since as (
    select person_id, min(cast(timezone('UTC', occurred_at) as date)) as known_on
    from {{ ref('int_touchpoints') }}
    group by person_id
    union all
    select identities.person_id, cast(customers.created_at as date)  -- staging keeps UTC wall-clock time
    from identities
    inner join {{ ref('stg_shop__customers') }} as customers
        on identities.identifier_type = 'shop_customer' and identities.identifier_value = customers.shop_customer_id
    union all
    select identities.person_id, cast(timezone('UTC', members.joined_at) as date)
    from identities
    inner join {{ ref('stg_loyalty__members') }} as members
        on identities.identifier_type = 'loyalty_member' and identities.identifier_value = members.loyalty_member_id
),

purchases as (
    select person_id, min(purchase_date) as first_purchase_date, max(purchase_date) as last_purchase_date
    from {{ ref('int_value__purchase_days') }}
    group by person_id
),

people as (
    select distinct person_id from identities
),

first_known as (
    select person_id, min(known_on) as known_on from known_since group by person_id
)

select
    people.person_id,
    least(
        coalesce(first_known.known_on, purchases.first_purchase_date, as_of.as_of_date),
        coalesce(purchases.first_purchase_date, first_known.known_on, as_of.as_of_date),
        as_of.as_of_date
    ) as first_known_date,
    purchases.first_purchase_date,
    purchases.last_purchase_date
from people
cross join as_of
left join first_known on people.person_id = first_known.person_id
left join purchases on people.person_id = purchases.person_id
