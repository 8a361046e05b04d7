"""One row per CLV fit of this run: BG/NBD (purchases and dropout) and Gamma-Gamma (spend) fitted by maximum
likelihood (ingestion.clv) on int_value__transactions. ``production`` is calibrated on every purchase up to
int_value__as_of; ``backtest`` on the purchases up to var ``clv_holdout_days`` before it, so that the holdout scores
it (int_clv__backtest). Both rows share the run's ``run_id``; marts.clv_model_runs keeps every run."""


def model(dbt, session):
    dbt.config(materialized="table")
    from ingestion import clv_models

    transactions = clv_models.transactions_frame(dbt.ref("int_value__transactions").df())
    as_of = clv_models.as_of_date(dbt.ref("int_value__as_of").df())
    return clv_models.fits(
        transactions, as_of, time_unit=str(dbt.config.get("time_unit")), holdout_days=int(dbt.config.get("holdout_days"))
    )
