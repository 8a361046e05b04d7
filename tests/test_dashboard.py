"""The dashboard's logic with Streamlit's AppTest, on a serving copy of the small build (orchestration.serving):
marts.kpi_daily against the demo world's orders and receipts, every page renders without an exception and shows what
the world says (revenue, customers), filters and switches rerun cleanly, and a page whose mart is missing names the
asset to materialize. tests/test_dashboard_browser.py opens the same pages in Chromium."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.app import PAGES, VIEWS

from .conftest import rows

MINE = ("overview", "channels", "customer_value", "cohorts")  # pages of this branch; the others come from theirs


@pytest.fixture(scope="module")
def serving(small_build, tmp_path_factory) -> Path:
    """The small build's serving copy, published the way a build publishes it."""
    from orchestration.serving import publish_serving

    report = publish_serving(small_build.built, tmp_path_factory.mktemp("serving") / "serving.duckdb")
    assert "marts.kpi_daily" in report.tables
    return report.path


@pytest.fixture()
def app(serving, monkeypatch):
    monkeypatch.setenv("JW_SERVING_PATH", str(serving))

    def run(name: str) -> AppTest:
        test = AppTest.from_file(str(VIEWS / f"{name}.py"), default_timeout=120)
        return test.run()

    return run


# --- the demo world's side ------------------------------------------------------------------------------------------


def utc_day(value) -> date:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return (value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)).date()


def world_sales(world) -> dict[date, dict[str, Decimal]]:
    """Per UTC day: the generator's paid shop orders (refunded and voided ones left out) and loyalty receipts as
    the loyalty system holds them (till receipts synced late are not there yet), counts and amounts."""
    days: dict[date, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for order in world.shop["orders"]:
        if order["financial_status"] not in ("refunded", "voided"):
            day = days[utc_day(order["created_at"])]
            day["orders_online"] += 1
            day["revenue_online"] += Decimal(str(order["total_price"]))
    for receipt in world.loyalty["receipts"]:
        day = days[utc_day(receipt["purchased_at"])]
        day["receipts_store"] += 1
        day["revenue_store"] += Decimal(str(receipt["total_amount"])).quantize(Decimal("0.01"))
    return days


def metric(test: AppTest, label: str):
    found = [m for m in test.metric if m.label == label]
    assert found, f"no metric {label!r}: {[m.label for m in test.metric]}"
    return found[0]


def no_exception(test: AppTest) -> None:
    assert not test.exception, [e.value for e in test.exception]


# --- the mart -------------------------------------------------------------------------------------------------------


def test_kpi_daily_equals_the_worlds_orders_and_receipts_day_by_day(small_build, small_world):
    truth = world_sales(small_world)
    measures = ("orders_online", "revenue_online", "receipts_store", "revenue_store")
    mart = {day: dict(zip(measures, values)) for day, *values in
            rows(small_build.built, f"select date_day, {', '.join(measures)} from marts.kpi_daily")}
    assert sum(d["orders_online"] for d in truth.values()) > 20 and sum(d["receipts_store"] for d in truth.values()) > 5
    for day in sorted(set(truth) | {d for d, v in mart.items() if any(v.values())}):
        expected = {m: truth.get(day, {}).get(m, 0) for m in measures}
        assert mart.get(day) == expected, day


def test_kpi_daily_counts_sessions_and_active_people_of_the_journeys(small_build):
    by_day = dict(((d, (s, c)) for d, s, c in rows(
        small_build.built, "select cast(session_start as date), count(*), count(*) filter (where converted) "
                           "from marts.journey_sessions group by 1")))
    active = dict(rows(small_build.built, "select cast(session_start as date), count(distinct person_id) "
                                          "from marts.journey_sessions group by 1"))
    for day, sessions, converting, active_customers, rate in rows(
        small_build.built, "select date_day, sessions, converting_sessions, active_customers, conversion_rate from marts.kpi_daily"
    ):
        assert (sessions, converting) == by_day.get(day, (0, 0)), day
        assert rate == (converting / sessions if sessions else None)
        # a person active on a day has a touchpoint of a session that day; a session over midnight counts the person
        # on its start day, so a day may have a few more active people than people starting sessions, never fewer
        assert active_customers >= active.get(day, 0), day


# --- the pages ------------------------------------------------------------------------------------------------------


def test_every_page_file_of_the_navigation_exists():
    # fails on branch `dashboard` until B2 (journeys, experience, customer_lookup) and E (campaigns) are merged
    missing = [name for name, _, _ in PAGES if not (VIEWS / f"{name}.py").exists()]
    assert not missing, f"pages without a file in dashboard/views: {missing}"


@pytest.mark.parametrize("name", MINE)
def test_page_renders_without_an_exception(app, name):
    test = app(name)
    no_exception(test)
    title = dict((n, t) for n, t, _ in PAGES)[name]
    assert [t.value for t in test.title] == [title]
    assert not test.info, [i.value for i in test.info]  # every mart is there: nothing asks to materialize one


def test_overview_shows_the_worlds_revenue_and_its_trend(app, small_world, small_build):
    test = app("overview")
    no_exception(test)
    truth = world_sales(small_world)
    first, last = rows(small_build.built, "select min(date_day), max(date_day) from marts.channel_daily")[0]
    start = max(first, last - timedelta(days=89))  # the default range: the last 90 days of data
    online = sum(d["revenue_online"] for day, d in truth.items() if start <= day <= last)
    store = sum(d["revenue_store"] for day, d in truth.items() if start <= day <= last)
    assert metric(test, "Revenue online").value == f"€{online:,.0f}"
    assert metric(test, "Revenue in store").value == f"€{store:,.0f}"
    people = rows(small_build.built, "select count(*) from marts.customer_360 where cast(first_seen_at as date) <= "
                                     f"date '{last}'")[0][0]
    assert metric(test, "People").value == f"{people:,}"

    # the last week against the week before, online only: the figures and the trend follow
    week = (last - timedelta(days=6), last)
    test.date_input(key="filter_dates").set_value(week)
    test.multiselect(key="filter_channels").set_value(["online"])
    test.run()
    no_exception(test)
    this_week = sum(d["revenue_online"] for day, d in truth.items() if week[0] <= day <= week[1])
    week_before = sum(d["revenue_online"] for day, d in truth.items() if week[0] - timedelta(days=7) <= day < week[0])
    assert metric(test, "Revenue online").value == f"€{this_week:,.0f}"
    if week_before:
        assert metric(test, "Revenue online").delta == f"{(this_week - week_before) / week_before:+.1%}"


def test_channels_switches_between_the_attribution_models(app, small_build, small_world):
    test = app("channels")
    no_exception(test)
    models = [m for (m,) in rows(small_build.built, "select distinct model from marts.attribution")]
    control = test.segmented_control(key="attribution_model")
    assert sorted(control.options) == sorted(m.replace("_", " ") for m in models) and len(models) >= 5
    summary = test.dataframe[0].value
    truth = world_sales(small_world)
    total = sum(d["revenue_online"] + d["revenue_store"] for d in truth.values())
    assert abs(summary["revenue"].sum() - float(total)) < 0.01  # the small world fits in the default 90 days
    for model in models:
        test.segmented_control(key="attribution_model").set_value(model).run()
        no_exception(test)
        assert f"Attributed revenue ({model.replace('_', ' ')})" in [s.value for s in test.subheader]
        # every model gives the whole revenue away, to one channel or another
        assert abs(test.dataframe[0].value["attributed_revenue"].sum() - float(total)) < 0.05, model


def test_customer_value_and_cohorts_count_the_customers(app, small_build):
    customers = rows(small_build.built, "select count(*) from marts.customer_clv where clv_12m is not null")[0][0]
    test = app("customer_value")
    no_exception(test)
    assert metric(test, "Customers").value == f"{customers:,}"
    segment = rows(small_build.built, "select segment, count(*) from marts.customer_rfm group by 1 order by 2 desc limit 1")[0]
    test.multiselect(key="filter_segments").set_value([segment[0]]).run()
    no_exception(test)
    in_segment = rows(small_build.built, "select count(*) from marts.customer_clv join marts.customer_rfm using (person_id) "
                                         f"where clv_12m is not null and segment = '{segment[0]}'")[0][0]
    assert metric(test, "Customers").value == f"{in_segment:,}"

    test = app("cohorts")
    no_exception(test)
    buyers = rows(small_build.built, "select count(*) from marts.customer_rfm")[0][0]
    assert metric(test, "Customers in them").value == f"{buyers:,}"
    for measure in ("active_customers", "revenue"):
        test.segmented_control(key="cohort_measure").set_value(measure).run()
        no_exception(test)


def test_a_page_whose_mart_is_missing_names_the_asset_to_materialize(serving, monkeypatch, tmp_path):
    copy = tmp_path / "serving.duckdb"
    copy.write_bytes(serving.read_bytes())
    with duckdb.connect(str(copy)) as connection:
        connection.execute("drop table marts.kpi_daily")
    monkeypatch.setenv("JW_SERVING_PATH", str(copy))
    test = AppTest.from_file(str(VIEWS / "overview.py"), default_timeout=60).run()
    no_exception(test)
    assert any("`kpi_daily`" in i.value and "materialize" in i.value.lower() for i in test.info), [i.value for i in test.info]
    assert not test.metric  # the page stopped there

    monkeypatch.setenv("JW_SERVING_PATH", str(tmp_path / "nothing" / "serving.duckdb"))  # not published yet
    for name in MINE:
        test = AppTest.from_file(str(VIEWS / f"{name}.py"), default_timeout=60).run()
        no_exception(test)
        assert any("No serving copy" in i.value for i in test.info), name


def test_a_new_publish_is_read_on_the_next_rerun(small_build, tmp_path, monkeypatch):
    """The dashboard keeps one connection per serving-copy version; after a publish swaps the file, the next query
    reads the new one (DuckDB caches a database per path within a process: connecting to the path again would
    return the old file)."""
    from dashboard import data
    from orchestration.serving import publish_serving

    from .conftest import copy_warehouse

    target = tmp_path / "serving.duckdb"
    monkeypatch.setenv("JW_SERVING_PATH", str(target))
    publish_serving(small_build.built, target)
    before = int(data.query("select count(*) from marts.customer_360").iloc[0, 0])
    assert before > 10

    changed = copy_warehouse(small_build.built, tmp_path / "changed")
    with duckdb.connect(str(changed)) as con:
        con.execute("delete from marts.customer_360 where person_id in (select person_id from marts.customer_360 limit 10)")
    publish_serving(changed, target)
    assert int(data.query("select count(*) from marts.customer_360").iloc[0, 0]) == before - 10
