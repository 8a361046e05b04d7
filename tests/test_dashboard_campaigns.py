"""The campaigns page with Streamlit's AppTest, on the small build's marts (a copy, opened read-only as the serving
copy): it renders without an exception, shows every campaign of the date range with the mart's numbers, the campaign
selector reruns cleanly, an empty date range says so, and without its marts it names the assets to materialize."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.app import VIEWS

from .conftest import copy_warehouse, rows

PAGE = str(VIEWS / "campaigns.py")


@pytest.fixture(scope="module")
def serving(small_build, tmp_path_factory) -> Path:
    """The small build's marts where the dashboard reads them (JW_SERVING_PATH)."""
    return copy_warehouse(small_build.built, tmp_path_factory.mktemp("campaigns-serving"), "serving.duckdb")


def run(monkeypatch, serving: Path, start: date | None = None, end: date | None = None) -> AppTest:
    monkeypatch.setenv("JW_SERVING_PATH", str(serving))
    test = AppTest.from_file(PAGE, default_timeout=120)
    if start:
        test.session_state["filter_dates"] = (start, end)
    return test.run()


def no_exception(test: AppTest) -> None:
    assert not test.exception, [e.value for e in test.exception]


def whole_range(serving: Path) -> tuple[date, date]:
    low, high = rows(serving, "select min(sent_at), max(sent_at) from marts.campaign_evaluation")[0]
    return low.date() - timedelta(days=1), high.date() + timedelta(days=1)


def test_the_page_shows_every_campaign_with_the_marts_numbers(monkeypatch, serving):
    start, end = whole_range(serving)
    test = run(monkeypatch, serving, start, end)
    no_exception(test)
    assert test.title[0].value == "Campaigns"
    headers = [h.value for h in test.subheader]
    assert "Uplift with 95 % confidence interval" in headers and "Per campaign" in headers
    expected = rows(serving, "select campaign_id, treated_people, holdout_people, sends from marts.campaign_evaluation "
                             "order by sent_at, campaign_id")
    table = test.dataframe[0].value
    assert list(zip(table["Campaign"], table["Treated"], table["Holdout"], table["Sends"])) == expected
    metrics = {m.label: m.value for m in test.metric}
    assert metrics["Campaigns"] == str(len(expected))
    assert metrics["People held out"] == f"{sum(r[2] for r in expected):,}"
    # the selector: every campaign, and picking one shows its sends
    picker = test.selectbox(key="campaign_pick")
    assert [o.split(" · ")[0] for o in picker.options] == [r[0] for r in expected]
    first = expected[0]
    test = picker.select(picker.options[0]).run()
    no_exception(test)
    assert {m.label: m.value for m in test.metric}["Sends"] == f"{first[3]:,}"


def test_a_date_range_without_campaigns_says_so(monkeypatch, serving):
    _, end = whole_range(serving)  # the day after the last campaign's
    high = rows(serving, "select max(date_day) from marts.channel_daily")[0][0]
    assert high >= end, "the small world has days after its last campaign"
    test = run(monkeypatch, serving, end, high)
    no_exception(test)
    assert any("No campaign was sent in this date range" in i.value for i in test.info)


def test_without_its_marts_the_page_names_the_assets(monkeypatch, serving, tmp_path):
    bare = tmp_path / "serving.duckdb"
    with duckdb.connect(str(bare)) as con, duckdb.connect(str(serving), read_only=True) as source:
        con.execute("create schema marts")
        frame = source.execute("select * from marts.campaign_performance").df()  # noqa: F841 (read by the next line)
        con.execute("create table marts.campaign_performance as select * from frame")
    test = run(monkeypatch, bare)
    no_exception(test)
    text = " ".join(i.value for i in test.info)
    assert "`campaign_evaluation`" in text and "`campaign_performance`" not in text.split("Materialize")[1]
