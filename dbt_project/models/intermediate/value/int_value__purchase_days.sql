-- One row per person and UTC day with a purchase up to the as-of moment (intermediate.int_value__as_of): the
-- day's transactions and amount, the person's day number and previous purchase day. The lifecycle's clock.
with as_of as (
    select * from {{ ref('int_value__as_of') }}
),

days as (
    select
        transactions.person_id,
        transactions.purchase_date,
        count(*) as transactions,
        sum(transactions.amount) as amount
    from {{ ref('int_value__transactions') }} as transactions
    cross join as_of
    where transactions.purchased_at <= as_of.as_of_at
    group by transactions.person_id, transactions.purchase_date
)

select
    person_id,
    purchase_date,
    transactions,
    cast(amount as decimal(18, 2)) as amount,
    row_number() over (partition by person_id order by purchase_date) as purchase_day_number,
    lag(purchase_date) over (partition by person_id order by purchase_date) as previous_purchase_date
from days
