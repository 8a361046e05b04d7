-- One row per person with a purchase up to the as-of date: the CLV summary and the production fit's predictions.
with predictions as (
    select * from {{ ref('int_clv__customer_predictions') }}
),

revenue as (
    -- exact (decimal) revenue of the purchases the summary counts
    select transactions.person_id, sum(transactions.amount) as historical_revenue
    from {{ ref('int_value__transactions') }} as transactions
    inner join (select distinct calibration_end from predictions) as fit
        on transactions.purchase_date <= cast(fit.calibration_end as date)
    group by transactions.person_id
)

select
    predictions.person_id,
    cast(predictions.frequency as integer) as frequency,
    cast(predictions.recency as double precision) as recency,
    cast(predictions.age as double precision) as age,
    {{ double_to_decimal('predictions.monetary', 18, 2) }} as monetary,
    cast(predictions.p_alive as double precision) as p_alive,
    cast(predictions.expected_purchases_90d as double precision) as expected_purchases_90d,
    cast(predictions.expected_purchases_365d as double precision) as expected_purchases_365d,
    {{ double_to_decimal('predictions.expected_average_value', 18, 2) }} as expected_average_value,
    {{ double_to_decimal('predictions.clv_12m', 18, 2) }} as clv_12m,
    cast(revenue.historical_revenue as decimal(18, 2)) as historical_revenue
from predictions
left join revenue on predictions.person_id = revenue.person_id
