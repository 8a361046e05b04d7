-- One row per person with a purchase up to the as-of moment: recency, frequency and monetary value, their quintile
-- scores among all those customers (ties share a score) and the named segment (see _value__docs.md).
with as_of as (
    select * from {{ ref('int_value__as_of') }}
),

customers as (
    select
        transactions.person_id,
        min(transactions.purchase_date) as first_purchase_date,
        max(transactions.purchase_date) as last_purchase_date,
        count(*) as frequency,
        sum(transactions.amount) as monetary
    from {{ ref('int_value__transactions') }} as transactions
    cross join as_of
    where transactions.purchased_at <= as_of.as_of_at
    group by transactions.person_id
),

measured as (
    select
        customers.*,
        as_of.as_of_date,
        {{ days_between('customers.last_purchase_date', 'as_of.as_of_date') }} as recency_days,
        count(*) over () as customers_scored
    from customers
    cross join as_of
),

-- quintile score: 1 + floor(5 * (rank - 1) / customers), rank() giving ties the lowest rank of their group
scored as (
    select
        *,
        1 + cast(floor(5.0 * (rank() over (order by recency_days desc nulls last) - 1) / customers_scored) as integer) as r_score,
        1 + cast(floor(5.0 * (rank() over (order by frequency) - 1) / customers_scored) as integer) as f_score,
        1 + cast(floor(5.0 * (rank() over (order by monetary) - 1) / customers_scored) as integer) as m_score
    from measured
)

select
    person_id,
    as_of_date,
    first_purchase_date,
    last_purchase_date,
    cast(recency_days as integer) as recency_days,
    cast(frequency as bigint) as frequency,
    cast(monetary as decimal(18, 2)) as monetary,
    r_score,
    f_score,
    m_score,
    cast(r_score as varchar) || cast(f_score as varchar) || cast(m_score as varchar) as rfm_score,
    {{ rfm_segment('r_score', 'f_score', 'm_score', 'frequency') }} as segment
from scored
