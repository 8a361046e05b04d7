"""The journeys, experience and customer lookup pages, run by Streamlit's AppTest on a serving copy of the small
world's build (orchestration.serving.publish_serving): each renders without an exception and shows what the marts
say; the lookup masks personal data until the viewer turns it on; a missing mart names the asset to build."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from .conftest import one

VIEWS = Path(__file__).resolve().parents[1] / "dashboard" / "views"
PAGES = {
    "journeys": ["Top paths to conversion", "From first touch to purchase", "Storefront funnel", "Step conversion per day"],
    "experience": ["Sentiment over time", "Service alerts", "Engagement tiers"],
    "customer_lookup": [],
}


@pytest.fixture(scope="module")
def serving(small_build, tmp_path_factory):
    """The small build published to a serving copy (marts and pii files), JW_SERVING_PATH pointing at it."""
    from orchestration.serving import publish_serving

    target = tmp_path_factory.mktemp("serving") / "serving.duckdb"
    report = publish_serving(small_build.built, target)
    assert report.pii_path is not None and {"marts.conversion_paths", "marts.funnel_daily", "marts.sentiment_daily"} <= set(report.tables)
    before = os.environ.get("JW_SERVING_PATH")
    os.environ["JW_SERVING_PATH"] = str(target)
    yield target
    if before is None:
        os.environ.pop("JW_SERVING_PATH", None)
    else:
        os.environ["JW_SERVING_PATH"] = before


def page(name: str) -> AppTest:
    return AppTest.from_file(str(VIEWS / f"{name}.py"), default_timeout=120)


def table(at: AppTest, column: str):
    """The first table shown with this column."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def text_of(at: AppTest) -> str:
    """What the page shows as text: markdown, captions, alerts, metrics and every table's cells."""
    parts = [e.value for kind in ("title", "subheader", "markdown", "caption", "info", "warning") for e in getattr(at, kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    parts += [d.value.to_csv() for d in at.dataframe]
    return "\n".join(str(p) for p in parts)


@pytest.mark.parametrize("name", PAGES)
def test_page_renders(serving, name):
    at = page(name).run()
    assert not at.exception, [e.message for e in at.exception]
    assert [s.value for s in at.subheader][: len(PAGES[name])] == PAGES[name]
    assert not at.warning


def test_journeys_page_shows_the_period_conversions(serving, small_build):
    at = page("journeys").run()
    start, end = at.date_input(key="filter_dates").value
    conversions = one(small_build.built, f"""
        select count(*) from marts.touchpoints
        where is_conversion and cast(timezone('UTC', occurred_at) as date) between '{start}' and '{end}'""")
    metrics = {m.label: m.value for m in at.metric}
    assert conversions > 0 and metrics["Conversions"] == f"{conversions:,}"
    paths = table(at, "path")
    assert paths["conversions"].sum() <= conversions and paths["path"].iloc[0] in text_of(at)
    funnel = table(at, "step")
    assert funnel["sessions"].is_monotonic_decreasing and funnel["sessions"].iloc[0] > 0
    # the channel filter: only paths through email (or bought there)
    at.multiselect(key="filter_channels").set_value(["email"]).run()
    assert not at.exception
    assert all("email" in path for path in table(at, "path")["path"])


def test_experience_page_filters_texts(serving):
    at = page("experience").run()
    channels = at.multiselect(key="experience_channels").options
    assert "shop" in channels
    at.multiselect(key="experience_channels").set_value(["shop"]).run()
    at.radio(key="experience_split").set_value("language").run()
    assert not at.exception, [e.message for e in at.exception]


def test_lookup_masks_personal_data_until_turned_on(serving):
    with duckdb.connect(str(serving.with_name("serving_pii.duckdb")), read_only=True) as con:
        person_id, email, last_name = con.execute(
            "select person_id, email, last_name from pii.person_contacts "
            "where email is not null and last_name is not null order by person_id limit 1").fetchone()
    at = page("customer_lookup").run()
    assert not at.exception and "Enter a person_id" in text_of(at)
    at.text_input(key="lookup_query").input(person_id).run()
    assert not at.exception, [e.message for e in at.exception]
    shown = text_of(at)
    assert f"Person {person_id}" in shown and "Identity" in [t.label for t in at.tabs]
    assert email not in shown and last_name not in shown and "•••" in shown
    # an e-mail search needs personal data on
    at.text_input(key="lookup_query").input(email).run()
    assert email not in text_of(at) and "turn on" in text_of(at)
    at.toggle(key="show_pii").set_value(True).run()
    assert not at.exception
    shown = text_of(at)
    assert f"Person {person_id}" in shown and email in shown and last_name in shown
    at.toggle(key="show_pii").set_value(False).run()
    assert email not in text_of(at)


def test_a_missing_mart_names_the_asset(serving, tmp_path):
    copy = tmp_path / "serving.duckdb"
    shutil.copyfile(serving, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("drop table marts.funnel_daily")
        con.execute("drop table marts.service_alerts")
    os.environ["JW_SERVING_PATH"] = str(copy)
    try:
        for name, asset in (("journeys", "funnel_daily"), ("experience", "service_alerts")):
            at = page(name).run()
            assert not at.exception
            assert f"Materialize `{asset}`" in text_of(at) and not at.subheader
        # no pii file next to this copy: the lookup says what to build when personal data is turned on
        at = page("customer_lookup")
        at.session_state["show_pii"] = True
        at.session_state["lookup_query"] = one(copy, "select min(person_id) from marts.customer_360")
        at.run()
        assert not at.exception and "materialize `person_contacts`" in text_of(at)
    finally:
        os.environ["JW_SERVING_PATH"] = str(serving)
