"""One row per person with a purchase: frequency, recency, age and monetary value as of int_value__as_of, and what
the production fit of int_clv__fits predicts for them (P(alive), expected purchases in 90 and 365 days, expected
average value, 12-month CLV discounted by var ``clv_monthly_discount_rate``)."""


def model(dbt, session):
    dbt.config(materialized="table")
    from ingestion import clv_models

    transactions = clv_models.transactions_frame(dbt.ref("int_value__transactions").df())
    fits = dbt.ref("int_clv__fits").df()
    return clv_models.customer_predictions(transactions, fits, float(dbt.config.get("monthly_discount_rate")))
