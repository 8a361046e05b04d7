-- One row per person of marts.customer_360: what the segments' `where` expressions read (models/marts/activation/
-- _activation__models.yml), counted up to the as-of moment (intermediate.int_value__as_of), never the reader's
-- clock. No personal data: ids, model scores, days and flags.
with people as (
    select * from {{ ref('customer_360') }}
),

as_of as (
    select * from {{ ref('int_value__as_of') }}
),

purchases as (
    select
        transactions.person_id,
        min(transactions.purchase_date) as first_purchase_date,
        max(transactions.purchase_date) as last_purchase_date,
        max(case when transactions.channel = 'pos' then transactions.purchase_date end) as last_receipt_date
    from {{ ref('int_value__transactions') }} as transactions
    cross join as_of
    where transactions.purchased_at <= as_of.as_of_at
    group by transactions.person_id
),

alerts as (
    select alerts.person_id, max(alerts.occurred_at) as last_service_alert_at
    from {{ ref('service_alerts') }} as alerts
    cross join as_of
    where alerts.occurred_at <= as_of.as_of_at
    group by alerts.person_id
)

select
    cast(people.person_id as varchar) as person_id,
    as_of.as_of_date,
    people.p_alive,
    people.clv_12m,
    people.lifecycle_stage,
    purchases.first_purchase_date,
    cast({{ days_between('purchases.first_purchase_date', 'as_of.as_of_date') }} as integer) as days_since_first_purchase,
    cast({{ days_between('purchases.last_purchase_date', 'as_of.as_of_date') }} as integer) as days_since_last_purchase,
    coalesce(people.loyalty_memberships, 0) > 0 as is_loyalty_member,
    cast({{ days_between('purchases.last_receipt_date', 'as_of.as_of_date') }} as integer) as days_since_last_receipt,
    alerts.last_service_alert_at,
    cast(as_of.as_of_date - cast(timezone('UTC', alerts.last_service_alert_at) as date) as integer) as days_since_last_service_alert,
    people.consent_email_marketing,
    people.consent_ad_audiences
from people
cross join as_of
left join purchases on people.person_id = purchases.person_id
left join alerts on people.person_id = alerts.person_id
