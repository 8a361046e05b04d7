"""One row per person who had bought by the backtest fit's calibration end: calibration frequency, recency and age,
the repeat purchases the backtest fit of int_clv__fits predicts for the holdout (var ``clv_holdout_days``) and those
int_value__transactions shows there. marts.clv_backtest sums them per frequency bucket."""


def model(dbt, session):
    dbt.config(materialized="table")
    from ingestion import clv_models

    transactions = clv_models.transactions_frame(dbt.ref("int_value__transactions").df())
    return clv_models.backtest(transactions, dbt.ref("int_clv__fits").df())
