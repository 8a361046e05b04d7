"""Predictive CLV in the warehouse: what the dbt Python models in dbt_project/models/intermediate/clv do with
``ingestion.clv`` (the fits, the predictions per person, the backtest), kept here so that tests can call it.

Transactions are int_value__transactions (one row per purchase: person_id, purchase_date (UTC), amount); "now" is
int_value__as_of's ``as_of_date``. Two fits per run: ``production`` calibrated on everything up to the as-of date,
``backtest`` on everything up to ``holdout_days`` before it (what happened in those days scores its predictions).
A fit that cannot be made (no purchases before the calibration end, no repeat customer) is a row with
``converged`` false, no parameters and the reason in ``failure``: the rest of the graph still builds.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pandas as pd

from ingestion import clv

PARAMETERS = ("r", "alpha", "a", "b", "p", "q", "gamma")
FIT_COLUMNS = [
    "run_id", "purpose", "fitted_at", "calibration_end", "holdout_end", "time_unit", *PARAMETERS, "log_likelihood",
    "gg_log_likelihood", "customers", "repeat_customers", "converged", "fit_seconds", "failure",
]  # fmt: skip


def units(days: float, time_unit: str) -> float:
    """``days`` in the fit's time unit."""
    if time_unit not in clv.TIME_UNITS:
        raise ValueError(f"clv_time_unit must be one of {sorted(clv.TIME_UNITS)}, not {time_unit!r}")
    return days / clv.TIME_UNITS[time_unit]


def transactions_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """int_value__transactions as ``ingestion.clv`` reads it: customer_id, date (day, UTC), amount (float)."""
    return pd.DataFrame(
        {
            "customer_id": frame["person_id"].astype(str),
            "date": pd.to_datetime(frame["purchase_date"]).dt.normalize().astype("datetime64[ns]"),
            "amount": frame["amount"].astype(float),
        }
    )


def as_of_date(frame: pd.DataFrame) -> date:
    """The one as-of date of int_value__as_of."""
    if len(frame) != 1 or pd.isna(frame["as_of_date"].iloc[0]):
        raise ValueError("int_value__as_of must hold exactly one as_of_date (no touchpoints in the warehouse?)")
    return pd.Timestamp(frame["as_of_date"].iloc[0]).date()


def summary(transactions: pd.DataFrame, calibration_end: date, time_unit: str) -> pd.DataFrame:
    """``clv.summarize`` with the person as a column: person_id, frequency, recency, T, monetary_value."""
    out = clv.summarize(transactions, calibration_end, time_unit=time_unit)
    out = out.reset_index()
    return out.rename(columns={out.columns[0]: "person_id"})


def _fit_row(run_id: str, purpose: str, transactions, calibration_end: date, holdout_end, time_unit: str) -> dict:
    row = dict.fromkeys(FIT_COLUMNS)
    row |= {"run_id": run_id, "purpose": purpose, "calibration_end": calibration_end, "holdout_end": holdout_end,
            "time_unit": time_unit, "converged": False}  # fmt: skip
    try:
        fitted = clv.fit(summary(transactions, calibration_end, time_unit), time_unit, calibration_end)
    except ValueError as error:  # too little data for this calibration window: said so, nothing else fails
        row["failure"] = str(error)[:500]
        row["fitted_at"] = datetime.now(timezone.utc)
        return row
    row |= {name: float(getattr(fitted, name)) for name in (*PARAMETERS, "log_likelihood", "gg_log_likelihood")}
    row |= {
        "fitted_at": fitted.fitted_at,
        "customers": int(fitted.customers),
        "repeat_customers": int(fitted.repeat_customers),
        "converged": bool(fitted.converged),
        "fit_seconds": float(fitted.seconds),
    }
    return row


def fits(transactions: pd.DataFrame, as_of: date, time_unit: str, holdout_days: int) -> pd.DataFrame:
    """One row per fit of this run (one ``run_id``): ``production`` up to ``as_of``, ``backtest`` up to
    ``holdout_days`` before it (``holdout_end`` = ``as_of``)."""
    units(1, time_unit)  # a clear error for an unknown unit
    if int(holdout_days) <= 0:
        raise ValueError(f"clv_holdout_days must be positive, not {holdout_days!r}")
    run_id = uuid.uuid4().hex
    rows = [
        _fit_row(run_id, "production", transactions, as_of, None, time_unit),
        _fit_row(run_id, "backtest", transactions, as_of - timedelta(days=int(holdout_days)), as_of, time_unit),
    ]
    out = pd.DataFrame(rows, columns=FIT_COLUMNS)
    out["fitted_at"] = pd.to_datetime(out["fitted_at"], utc=True)
    for column in ("calibration_end", "holdout_end"):
        out[column] = pd.to_datetime(out[column]).astype("datetime64[ns]")
    return out


def fit_from_row(row: pd.Series) -> clv.ClvFit | None:
    """The ClvFit a row of int_clv__fits stands for (None when that fit failed)."""
    if not bool(row["converged"]) and pd.isna(row["r"]):
        return None
    values = {
        **{name: float(row[name]) for name in (*PARAMETERS, "log_likelihood", "gg_log_likelihood")},
        "customers": int(row["customers"]),
        "repeat_customers": int(row["repeat_customers"]),
        "converged": bool(row["converged"]),
        "time_unit": str(row["time_unit"]),
        "calibration_end": pd.Timestamp(row["calibration_end"]).date(),
        "fitted_at": pd.Timestamp(row["fitted_at"]).to_pydatetime(),
        "seconds": float(row["fit_seconds"]),
    }
    return clv.ClvFit(**{f.name: values[f.name] for f in dataclasses.fields(clv.ClvFit) if f.name in values})


def fit_of(fits_frame: pd.DataFrame, purpose: str) -> tuple[pd.Series, clv.ClvFit | None]:
    rows = fits_frame[fits_frame["purpose"] == purpose]
    if len(rows) != 1:
        raise ValueError(f"int_clv__fits must hold exactly one {purpose!r} fit, found {len(rows)}")
    row = rows.iloc[0]
    return row, fit_from_row(row)


PREDICTION_COLUMNS = [
    "person_id", "first_purchase_date", "last_purchase_date", "transactions", "frequency", "recency", "age",
    "monetary", "p_alive", "expected_purchases_90d", "expected_purchases_365d", "expected_average_value", "clv_12m",
    "historical_revenue", "calibration_end", "time_unit",
]  # fmt: skip


def customer_predictions(
    transactions: pd.DataFrame, fits_frame: pd.DataFrame, monthly_discount_rate: float
) -> pd.DataFrame:
    """One row per person with a purchase up to the production fit's calibration end: the summary in the fit's
    time unit, P(alive), expected purchases in the next 90 and 365 days, expected average value and the
    12-month CLV (all null when the fit failed), and the revenue of all their purchases so far."""
    row, fitted = fit_of(fits_frame, "production")
    end, unit = pd.Timestamp(row["calibration_end"]).date(), str(row["time_unit"])
    known = transactions[transactions["date"] <= pd.Timestamp(end)]
    if known.empty:
        return pd.DataFrame(columns=PREDICTION_COLUMNS)
    out = summary(known, end, unit)
    days = known.groupby("customer_id").agg(
        first_purchase_date=("date", "min"), last_purchase_date=("date", "max"),
        transactions=("date", "nunique"), historical_revenue=("amount", "sum"),
    )  # fmt: skip
    out = out.merge(days, left_on="person_id", right_index=True, how="left", validate="one_to_one")
    out = out.rename(columns={"T": "age", "monetary_value": "monetary"})
    f, r, t, m = (out[c].to_numpy(dtype=float) for c in ("frequency", "recency", "age", "monetary"))
    if fitted is None:
        for column in ("p_alive", "expected_purchases_90d", "expected_purchases_365d", "expected_average_value", "clv_12m"):
            out[column] = np.nan
    else:
        out["p_alive"] = np.asarray(clv.p_alive(fitted, f, r, t), dtype=float)
        out["expected_purchases_90d"] = np.asarray(clv.expected_purchases(fitted, units(90, unit), f, r, t), dtype=float)
        out["expected_purchases_365d"] = np.asarray(clv.expected_purchases(fitted, units(365, unit), f, r, t), dtype=float)
        out["expected_average_value"] = np.asarray(clv.expected_average_value(fitted, f, m), dtype=float)
        out["clv_12m"] = np.asarray(
            clv.clv(fitted, f, r, t, m, months=12, monthly_discount_rate=float(monthly_discount_rate)), dtype=float
        )
    out["calibration_end"] = pd.Timestamp(end)
    out["time_unit"] = unit
    out["frequency"] = out["frequency"].astype("int64")
    return out[PREDICTION_COLUMNS]


BACKTEST_COLUMNS = [
    "person_id", "frequency", "recency", "age", "predicted_purchases", "actual_purchases", "calibration_end",
    "holdout_end", "holdout_days",
]  # fmt: skip


def backtest(transactions: pd.DataFrame, fits_frame: pd.DataFrame) -> pd.DataFrame:
    """One row per person who bought on or before the backtest fit's calibration end: the calibration summary,
    the repeat purchases the fit predicts for the holdout (the days after the calibration end up to and including
    ``holdout_end``) and the purchases that happened there (one per person and calendar day, as in the fit).
    Predictions are null when the backtest fit failed."""
    row, fitted = fit_of(fits_frame, "backtest")
    end, holdout_end, unit = pd.Timestamp(row["calibration_end"]).date(), pd.Timestamp(row["holdout_end"]).date(), str(row["time_unit"])
    holdout_days = (holdout_end - end).days
    known = transactions[transactions["date"] <= pd.Timestamp(end)]
    if known.empty:
        return pd.DataFrame(columns=BACKTEST_COLUMNS)
    out = summary(known, end, unit).rename(columns={"T": "age"})
    later = transactions[(transactions["date"] > pd.Timestamp(end)) & (transactions["date"] <= pd.Timestamp(holdout_end))]
    actual = later.groupby("customer_id")["date"].nunique()
    out["actual_purchases"] = out["person_id"].map(actual).fillna(0).astype("int64")
    if fitted is None:
        out["predicted_purchases"] = np.nan
    else:
        f, r, t = (out[c].to_numpy(dtype=float) for c in ("frequency", "recency", "age"))
        out["predicted_purchases"] = np.asarray(clv.expected_purchases(fitted, units(holdout_days, unit), f, r, t), dtype=float)
    out["frequency"] = out["frequency"].astype("int64")
    out["calibration_end"] = pd.Timestamp(end)
    out["holdout_end"] = pd.Timestamp(holdout_end)
    out["holdout_days"] = holdout_days
    return out[BACKTEST_COLUMNS]
