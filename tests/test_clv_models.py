"""Predictive CLV inside the dbt graph, on the small world built by dbt (the build tests/conftest.py shares).

The fits are scored against ingestion.clv on the same summary (values, not just shapes), the backtest's actual
holdout purchases against the generator's purchases (world.value_transactions) person for person, and the
Dagster metadata must carry the parameters and the predicted-vs-actual plot.
"""

from __future__ import annotations

import base64
import re
from collections import defaultdict
from datetime import timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest

from ingestion import clv, clv_models
from orchestration.lib import clv_metadata

from .conftest import built_nodes, copy_warehouse, dbt

CLV_MARTS = ("customer_clv", "clv_backtest", "clv_model_runs")


@pytest.fixture(scope="module")
def built(small_build, tmp_path_factory):
    """The small world loaded raw and built by dbt (the full build other files share: the CLV marts, their
    upstream models and the tests between, all passing), copied: the last test here refits on it."""
    results = built_nodes(small_build.target)
    assert {r["status"] for r in results.values()} <= {"success", "pass"}, {
        n: r["status"] for n, r in results.items() if r["status"] not in ("success", "pass")
    }
    assert {"int_clv__fits", "int_clv__customer_predictions", "int_clv__backtest", *CLV_MARTS} <= set(results)
    return copy_warehouse(small_build.built, tmp_path_factory.mktemp("clv"))


def frame(warehouse, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).df()


def transactions(warehouse) -> pd.DataFrame:
    return clv_models.transactions_frame(frame(warehouse, "select * from intermediate.int_value__transactions"))


def fits(warehouse) -> pd.DataFrame:
    return frame(warehouse, "select * from intermediate.int_clv__fits")


def test_both_fits_converge_and_the_mart_keeps_them(built):
    runs = frame(built, "select * from marts.clv_model_runs")
    assert sorted(runs["purpose"]) == ["backtest", "production"] and runs["run_id"].nunique() == 1
    assert runs["converged"].all() and runs["failure"].isna().all()
    for name in clv_models.PARAMETERS:
        assert (runs[name] > 0).all() and np.isfinite(runs[name]).all(), name
    as_of = frame(built, "select as_of_date from intermediate.int_value__as_of")["as_of_date"].iloc[0]
    ends = dict(zip(runs["purpose"], pd.to_datetime(runs["calibration_end"]).dt.date))
    assert ends["production"] == pd.Timestamp(as_of).date()
    assert ends["production"] - ends["backtest"] == timedelta(days=90)  # var clv_holdout_days
    assert (runs["time_unit"] == "days").all()


def test_each_fit_is_the_maximum_likelihood_fit_of_its_summary(built):
    """Refitting ingestion.clv on the summary of the same transactions gives the stored parameters, and the stored
    log-likelihood is the BG/NBD likelihood of that summary at them."""
    purchases = transactions(built)
    for _, row in fits(built).iterrows():
        end = pd.Timestamp(row["calibration_end"]).date()
        summary = clv.summarize(purchases, end, time_unit="days")
        again = clv.fit(summary, "days", end)
        assert row["customers"] == again.customers == len(summary)
        assert row["repeat_customers"] == again.repeat_customers
        for name in clv_models.PARAMETERS:
            assert row[name] == pytest.approx(getattr(again, name), rel=1e-6), (row["purpose"], name)
        ll = clv.bgnbd_log_likelihood(
            row["r"], row["alpha"], row["a"], row["b"], summary["frequency"], summary["recency"], summary["T"]
        ).sum()
        assert row["log_likelihood"] == pytest.approx(ll, rel=1e-9)


def test_customer_clv_has_one_row_per_buying_person_with_the_values_of_ingestion_clv(built):
    purchases = transactions(built)
    production = fits(built).query("purpose == 'production'").iloc[0]
    fitted = clv_models.fit_from_row(production)
    end = pd.Timestamp(production["calibration_end"]).date()
    expected = clv.summarize(purchases, end, time_unit="days")
    mart = frame(built, "select * from marts.customer_clv").set_index("person_id").sort_index()
    assert set(mart.index) == set(purchases["customer_id"]) == set(expected.index)
    expected = expected.loc[mart.index]
    f, r, t, m = (expected[c].to_numpy(float) for c in ("frequency", "recency", "T", "monetary_value"))
    assert (mart["frequency"].to_numpy() == f).all()
    np.testing.assert_allclose(mart["recency"], r)
    np.testing.assert_allclose(mart["age"], t)
    np.testing.assert_allclose(mart["monetary"].astype(float), m, atol=0.005)
    np.testing.assert_allclose(mart["p_alive"], clv.p_alive(fitted, f, r, t), rtol=1e-9)
    np.testing.assert_allclose(mart["expected_purchases_90d"], clv.expected_purchases(fitted, 90, f, r, t), rtol=1e-9)
    np.testing.assert_allclose(mart["expected_purchases_365d"], clv.expected_purchases(fitted, 365, f, r, t), rtol=1e-9)
    np.testing.assert_allclose(mart["expected_average_value"].astype(float), clv.expected_average_value(fitted, f, m), atol=0.005)
    value = clv.clv(fitted, f, r, t, m, months=12, monthly_discount_rate=0.01)
    np.testing.assert_allclose(mart["clv_12m"].astype(float), value, atol=0.005)
    assert (value > 0).all() and (mart["clv_12m"] >= 0).all()
    revenue = purchases.groupby("customer_id")["amount"].sum().loc[mart.index]
    np.testing.assert_allclose(mart["historical_revenue"].astype(float), revenue, atol=0.005)
    # a repeat buyer who came back lately is more likely alive than one of the same frequency gone long ago
    repeaters = mart[mart["frequency"] > 0]
    assert repeaters["p_alive"].corr(repeaters["age"] - repeaters["recency"], method="spearman") < 0


def test_backtest_actuals_are_the_generators_holdout_purchases_person_for_person(built, small_world):
    """Every purchase the generator made in the holdout reaches the backtest: per person, the calendar days with a
    purchase there, the generator's purchases mapped to warehouse persons through their transaction ids (identity
    resolution is scored elsewhere; here nothing may be lost, counted twice or put on the wrong day)."""
    backtest = frame(built, "select * from intermediate.int_clv__backtest").set_index("person_id")
    end, holdout_end = (pd.Timestamp(backtest[c].iloc[0]).date() for c in ("calibration_end", "holdout_end"))
    owner = {
        (source, tid): person
        for source, tid, person in frame(built, "select source, transaction_id, person_id from intermediate.int_value__transactions")
        .itertuples(index=False)
    }
    # the late tills' receipts reach the POS only after a first load (test_loyalty): not given to this warehouse
    late = {r["receipt_id"] for r in small_world.loyalty_late.get("receipts", [])}
    truth = [
        t for t in small_world.value_transactions
        if end < t["purchased_at"].date() <= holdout_end and not (t["source"] == "pos" and t["transaction_id"] in late)
    ]  # fmt: skip
    assert truth, "the small world has purchases in the holdout"
    days: dict[str, set] = defaultdict(set)
    missing = []
    for t in truth:
        person = owner.get((t["source"], str(t["transaction_id"])))
        if person is None:
            missing.append((t["source"], t["transaction_id"]))
        else:
            days[person].add(t["purchased_at"].date())
    assert missing == []
    expected = {person: len(d) for person, d in days.items() if person in backtest.index}
    actual = backtest["actual_purchases"]
    assert actual[actual > 0].to_dict() == expected
    # people first seen in the holdout are not scored: they had not bought by the calibration end
    first_seen = transactions(built).groupby("customer_id")["date"].min()
    assert set(backtest.index) == set(first_seen[first_seen <= pd.Timestamp(end)].index)


def test_backtest_predictions_and_buckets(built):
    backtest = frame(built, "select * from intermediate.int_clv__backtest")
    row = fits(built).query("purpose == 'backtest'").iloc[0]
    fitted = clv_models.fit_from_row(row)
    f, r, t = (backtest[c].to_numpy(float) for c in ("frequency", "recency", "age"))
    np.testing.assert_allclose(backtest["predicted_purchases"], clv.expected_purchases(fitted, 90, f, r, t), rtol=1e-9)
    mart = frame(built, "select * from marts.clv_backtest").set_index("frequency_bucket")
    backtest["bucket"] = [str(x) if x < 7 else "7+" for x in backtest["frequency"]]
    backtest["abs_error"] = (backtest["predicted_purchases"] - backtest["actual_purchases"]).abs()
    grouped = backtest.groupby("bucket").agg(
        customers=("person_id", "size"), predicted=("predicted_purchases", "sum"), actual=("actual_purchases", "sum"),
        mae=("abs_error", "mean"),
    )  # fmt: skip
    buckets = mart[~mart["is_total"]]
    assert sorted(buckets.index) == sorted(grouped.index)
    assert (buckets.loc[grouped.index, "customers"] == grouped["customers"]).all()
    assert (buckets.loc[grouped.index, "actual_purchases"] == grouped["actual"]).all()
    np.testing.assert_allclose(buckets.loc[grouped.index, "predicted_purchases"], grouped["predicted"], rtol=1e-9)
    np.testing.assert_allclose(buckets.loc[grouped.index, "mean_absolute_error"], grouped["mae"], rtol=1e-9)
    total = mart.loc["all"]
    assert total["is_total"] and total["customers"] == len(backtest)
    assert total["actual_purchases"] == backtest["actual_purchases"].sum()
    assert total["error"] == pytest.approx(backtest["predicted_purchases"].sum() - backtest["actual_purchases"].sum())
    assert total["mean_absolute_error"] == pytest.approx(backtest["abs_error"].mean())
    assert total["holdout_days"] == 90


def test_dagster_metadata_shows_the_parameters_and_the_backtest_plot(built):
    with duckdb.connect(str(built), read_only=True) as con:
        fit = clv_metadata.clv_metadata(con, ("intermediate", "int_clv__fits"))
        backtest = clv_metadata.clv_metadata(con, ("marts", "clv_backtest"))
        runs = clv_metadata.clv_metadata(con, ("marts", "clv_model_runs"))
        assert clv_metadata.clv_metadata(con, ("marts", "customer_clv")) == {}
    production = fits(built).query("purpose == 'production'").iloc[0]
    for name in (*clv_models.PARAMETERS, "log_likelihood"):
        assert fit[f"clv/{name}"].value == pytest.approx(production[name]), name
        assert runs[f"clv/{name}"].value == fit[f"clv/{name}"].value
    assert "| production |" in fit["clv/fits"].value and "| backtest |" in fit["clv/fits"].value
    total = frame(built, "select * from marts.clv_backtest where is_total").iloc[0]
    assert backtest["clv/backtest_total_error"].value == pytest.approx(total["error"])
    assert backtest["clv/backtest_mae_per_customer"].value == pytest.approx(total["mean_absolute_error"])
    # the plot: an SVG data URI with two bars per bucket (predicted, actual) whose heights follow the mart
    markdown = fit["clv/backtest_plot"].value
    assert markdown == backtest["clv/backtest_plot"].value
    encoded = re.search(r"!\[[^\]]*\]\(data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)\)", markdown).group(1)
    svg = base64.b64decode(encoded).decode()
    buckets = frame(built, "select * from marts.clv_backtest where not is_total order by frequency_min")
    bars = [float(h) for h in re.findall(r'<rect class="bar" x="[\d.]+" y="[\d.]+" width="[\d.]+" height="([\d.]+)"', svg)]
    assert len(bars) == 2 * len(buckets)
    values = [v for p, a in zip(buckets["predicted_per_customer"], buckets["actual_per_customer"]) for v in (p, a)]
    scale = max(bars) / max(values)
    np.testing.assert_allclose(bars, [v * scale for v in values], atol=0.2)
    for bucket in buckets["frequency_bucket"]:
        assert f"| {bucket} |" in markdown


def test_plot_of_an_empty_or_failed_backtest_still_renders():
    svg = clv_metadata.backtest_svg([("0", 3, None, 0.0, None, 0)], 90)
    assert svg.startswith("<svg") and svg.endswith("</svg>") and "n=3" in svg
    markdown = clv_metadata.backtest_markdown([], None, None)
    assert "data:image/svg+xml;base64," in markdown


def test_model_runs_append_new_fits_and_nothing_when_the_data_did_not_change(built):
    """Last in this module: it refits on the built warehouse. The same data again appends nothing (running again
    changes nothing); another holdout is another backtest fit and is appended, the unchanged production fit not."""
    before = frame(built, "select * from marts.clv_model_runs")
    dbt(built, built.parent, "run", "--select", "int_clv__fits", "clv_model_runs")  # parses; the next run reuses it
    again = frame(built, "select * from marts.clv_model_runs")
    assert len(again) == len(before) == 2 and set(again["run_id"]) == set(before["run_id"])
    dbt(built, built.parent, "run", "--select", "int_clv__fits", "clv_model_runs", "--vars", "{clv_holdout_days: 60}")
    after = frame(built, "select * from marts.clv_model_runs").sort_values("fitted_at")
    assert len(after) == 3 and after["run_id"].nunique() == 2
    added = after[~after["run_id"].isin(before["run_id"])]
    assert list(added["purpose"]) == ["backtest"]
    assert (pd.to_datetime(added["holdout_end"]) - pd.to_datetime(added["calibration_end"])).dt.days.tolist() == [60]
