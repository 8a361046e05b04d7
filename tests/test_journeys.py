"""Touchpoints, stitching and journey sessions on a small world: dbt only, against a raw warehouse loaded once.

The storefront's journeys truth (journeys_truth.parquet) scores stitching and sessions; the collector's traps
(late, duplicate, clock ahead, a session over a day) are checked one by one; an incremental build after new
data equals a full refresh row for row; Universal-Analytics rules split at midnight and on a campaign change.
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from ingestion.demo_world.journey_scoring import score_journeys

from .conftest import dbt, one, rows

PROJECT = Path(__file__).resolve().parents[1] / "dbt_project"
# raw rows the second load brings: each event-like table and the column that dates it
HELD_BACK = {
    "shop.events": "collector_tstamp",
    "shop.orders": "created_at",
    "shop.abandoned_checkouts": "created_at",
    "esp.events": "datetime",
    "social.interactions": "created_time",
    "loyalty.receipts": "purchased_at",
    "loyalty.points": "created_at",
    "iot.readings": "recorded_at",
}
CHILDREN = {"shop.orders__lines": ("order_id", "shop.orders"), "shop.abandoned_checkouts__lines": ("checkout_id", "shop.abandoned_checkouts")}


@pytest.fixture(scope="module")
def raw(small_build):
    """The small world, loaded raw (no dbt), and where its source systems are."""
    return small_build.raw, small_build.systems


@pytest.fixture(scope="module")
def built(small_build):
    """Everything up to the journey marts built (gap rules): the small world's full ``dbt build``, shared with
    other files (read only)."""
    results = json.loads((small_build.target / "run_results.json").read_text())["results"]
    results = [r for r in results if not r["unique_id"].startswith("exposure.")]  # dbt lists exposures as no-op
    assert {r["status"] for r in results} <= {"success", "pass"}
    # this build runs the dbt unit tests (the production build leaves them out): every one of them, and passing
    unit_tests = json.loads((small_build.target / "manifest.json").read_text())["unit_tests"]
    ran = {r["unique_id"]: r["status"] for r in results if r["unique_id"].startswith("unit_test.")}
    assert len(unit_tests) >= 16 and ran == dict.fromkeys(unit_tests, "pass")
    return small_build.built


def test_stitching_and_sessions_score_against_the_journeys_truth(built, raw):
    score = score_journeys(built, raw[1])
    assert score["events_in_warehouse"] == score["events"]
    assert score["touchpoints_per_event_max"] == 1
    assert score["stitched_share"] >= 0.93
    assert score["stitched_before_login_share"] >= 0.93  # anonymous browsing before the login, back in time
    assert score["email_link_events"] > 0 and score["email_link_stitched_share"] >= 0.93
    assert score["anonymous_kept_share"] == 1.0  # nobody is made up
    assert score["wrong_person_share"] <= 0.05
    assert score["visits_in_one_session_share"] >= 0.99
    assert 0.85 * score["true_visits"] <= score["sessions_with_storefront_events"] <= score["true_visits"]
    assert score["time_exact_share"] == 1.0


def test_collector_traps(built, raw, small_world):
    truth = {r["event_id"]: r for r in small_world.journeys}
    events = {e["event_id"]: e for e in small_world.shop["events"]}
    late = [i for i, r in truth.items() if r["late"]]
    twice = [i for i, r in truth.items() if r["duplicate"]]
    ahead = [i for i, r in truth.items() if r["clock_ahead"]]
    assert late and twice and ahead
    assert len(small_world.shop["events"]) == len(truth) + len(twice)  # the collector's export has both copies
    ids = lambda keys: "(" + ", ".join(f"'storefront:{k}'" for k in keys) + ")"  # noqa: E731
    # sent twice: one touchpoint
    assert one(built, f"select count(*) from marts.touchpoints where touchpoint_id in {ids(twice)}") == len(twice)
    # late: when it happened on the device, hours before the collector got it
    got = dict(rows(built, f"select touchpoint_id, occurred_at from marts.touchpoints where touchpoint_id in {ids(late)}"))
    assert all(got[f"storefront:{i}"] == truth[i]["occurred_at"] for i in late)
    # device clock ahead: placed at the collector's time (seconds after it happened), never in the future
    got = dict(rows(built, f"select touchpoint_id, occurred_at from marts.touchpoints where touchpoint_id in {ids(ahead)}"))
    for i in ahead:
        assert events[i]["derived_tstamp"] > events[i]["collector_tstamp"]
        assert truth[i]["occurred_at"] < got[f"storefront:{i}"] <= truth[i]["occurred_at"] + timedelta(seconds=30)
    assert one(built, "select count(*) from marts.touchpoints where occurred_at > "
                      "(select max(received_at) from intermediate.int_journey__storefront_events)") == 0
    # somebody busy for more than a day without a half-hour pause: one session, over 24 hours
    marathon = [i for i, r in truth.items() if r["marathon"]]
    assert len(marathon) > 48
    sessions = rows(built, "select distinct session_id from intermediate.int_journey__touchpoint_sessions "
                           f"where touchpoint_id in {ids(marathon)}")
    assert len(sessions) == 1
    assert one(built, f"select session_end - session_start from marts.journey_sessions where session_id = '{sessions[0][0]}'") > timedelta(hours=24)


def test_sessions_reconcile_with_touchpoints(built):
    # every own touchpoint of a known actor is in exactly one session; outbound ones and readings in none
    assert one(built, "select count(*) from intermediate.int_journey__touchpoint_sessions") == one(
        built, "select count(*) from marts.touchpoints where not is_outbound and touchpoint_type <> 'iot_reading' "
               "and (person_id is not null or visitor_id is not null)")
    assert one(built, "select count(*) from intermediate.int_journey__touchpoint_sessions s "
                      "join marts.touchpoints t using (touchpoint_id) where t.is_outbound") == 0
    assert rows(built, "select sum(touchpoints), sum(revenue), count(*) filter (where converted) from marts.journey_sessions") == rows(
        built, "select count(*), sum(revenue), count(distinct session_id) filter (where is_conversion) "
               "from intermediate.int_journey__touchpoint_sessions")
    # no gap over 30 minutes inside a session, and a session is one actor's
    assert one(built, """
        select count(*) from (
            select occurred_at - lag(occurred_at) over (partition by session_id order by occurred_at, touchpoint_id) as gap
            from intermediate.int_journey__touchpoint_sessions
        ) where gap > interval 30 minute""") == 0
    assert one(built, "select count(*) from (select session_id from intermediate.int_journey__touchpoint_sessions "
                      "group by session_id having count(distinct actor_key) > 1)") == 0
    # an online order ends the visit that went through the checkout page
    assert one(built, """
        select avg((exists (
            select 1 from intermediate.int_journey__touchpoint_sessions as page
            where page.session_id = orders.session_id and page.page_path = '/checkout'
        ))::int)
        from intermediate.int_journey__touchpoint_sessions as orders where orders.touchpoint_type = 'order'""") >= 0.95


def held_back(warehouse: Path, cutoff: str, restore: bool) -> None:
    """Move the raw rows dated after ``cutoff`` to a side schema (restore=False) or back (restore=True)."""
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema if not exists held")
        for table, column in {**HELD_BACK, **CHILDREN}.items():
            side = "held." + table.replace(".", "__")
            if restore:
                con.execute(f"insert into {table} by name select * from {side}")
                continue
            if table in CHILDREN:
                key, parent = CHILDREN[table]
                where = f"cast({key} as varchar) in (select cast(id as varchar) from held.{parent.replace('.', '__')})"
            else:
                where = f"{column} > timestamptz '{cutoff}'"
            con.execute(f"create table {side} as select * from {table} where {where}")
            con.execute(f"delete from {table} where {where}")


def test_an_incremental_run_after_new_data_equals_a_full_refresh(raw, tmp_path, small_world):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(raw[0], warehouse)
    # two days before the world's end: people who bought and then went quiet for longer than the lookback exist in
    # the small world's 21 days (purchases follow the value process: buyers are mostly people active to the end)
    cutoff = (small_world.end - timedelta(days=2)).isoformat()
    with duckdb.connect(str(warehouse)) as con:  # phones offline for a week: their events arrive after the cutoff
        late = con.execute(f"""
            update shop.events set collector_tstamp = timestamptz '{cutoff}' + interval 1 hour
            where event_id in (
                select event_id from shop.events
                where derived_tstamp between timestamptz '{cutoff}' - interval 10 day and timestamptz '{cutoff}' - interval 8 day
                    and domain_userid not in (
                        select domain_userid from shop.events where derived_tstamp > timestamptz '{cutoff}' - interval 3 day)
                order by event_id limit 20)""").fetchone()[0]
    assert late == 20
    held_back(warehouse, cutoff, restore=False)
    # what the sessions are built from (the identity blocklist seed included), not the rest of the project: the
    # comparison below reads the sessions only
    journeys = ("--select", "+journey_sessions", "--exclude-resource-type", "test", "--exclude-resource-type", "unit_test")
    dbt(warehouse, tmp_path, "build", *journeys)
    before = rows(warehouse, "select actor_key, min(occurred_at) from intermediate.int_journey__touchpoint_sessions group by all")
    held_back(warehouse, cutoff, restore=True)
    # and orders of people quiet since two days before the cutoff (outside the lookback, no new touchpoint) are refunded
    dbt(warehouse, tmp_path, "run", "--select", "+int_journey__actor_touchpoints", "--exclude", "int_journey__touchpoint_sessions+")
    quiet = [order for (order,) in rows(warehouse, f"""
        select split_part(touchpoint_id, ':', 2) from intermediate.int_journey__actor_touchpoints
        where touchpoint_type = 'order' and is_conversion and actor_key in (
            select actor_key from intermediate.int_journey__actor_touchpoints group by actor_key
            having max(occurred_at) < timestamptz '{cutoff}' - interval 2 day)""")]
    assert quiet
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"update shop.orders set financial_status = 'refunded', updated_at = timestamptz '{cutoff}' + interval 2 hour "
                    f"where cast(id as varchar) in ({', '.join(repr(o) for o in quiet)})")
    dbt(warehouse, tmp_path, "build", *journeys)
    compare = ("select * exclude (sessionized_in) from intermediate.int_journey__touchpoint_sessions order by all",
               "select * from marts.journey_sessions order by all")
    incremental = [rows(warehouse, sql) for sql in compare]
    resessionized = one(warehouse, "select count(distinct actor_key) from intermediate.int_journey__touchpoint_sessions "
                                   "where sessionized_in = (select any_value(sessionized_in) from intermediate.int_journey__touchpoint_sessions "
                                   "where occurred_at > timestamptz '" + cutoff + "')")
    actors = one(warehouse, "select count(distinct actor_key) from intermediate.int_journey__touchpoint_sessions")
    # stitching back in time happened: a visitor anonymous before the cutoff belongs to a person now
    was_anonymous = {a for a, _ in before if a.startswith("visitor:")}
    assert one(warehouse, "select count(distinct visitor_id) from intermediate.int_journey__touchpoint_sessions "
                          "where person_id is not null and occurred_at <= timestamptz '" + cutoff + "' and 'visitor:' || visitor_id in "
                          "(" + ", ".join(f"'{a}'" for a in was_anonymous) + ")") > 0
    dbt(warehouse, tmp_path, "run", "--select", "int_journey__touchpoint_sessions journey_sessions", "--full-refresh")
    full = [rows(warehouse, sql) for sql in compare]
    assert incremental[0] == full[0]
    assert incremental[1] == full[1]
    assert 0 < resessionized < actors  # the run was incremental: not every actor was sessionized again


def test_universal_analytics_rules_split_at_midnight_and_on_campaign_change(built, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(built, warehouse)
    gap_sessions = one(warehouse, "select count(*) from marts.journey_sessions")
    dbt(warehouse, tmp_path, "run", "--select", "int_journey__touchpoint_sessions journey_sessions", "--full-refresh",
        "--vars", "{session_rules: universal_analytics}")
    assert one(warehouse, "select count(*) from marts.journey_sessions") > gap_sessions
    assert one(warehouse, "select count(*) from marts.journey_sessions where cast(session_start as date) <> cast(session_end as date)") == 0
    assert one(warehouse, "select count(*) from (select session_id from intermediate.int_journey__touchpoint_sessions "
                          "where campaign is not null group by session_id having count(distinct campaign) > 1)") == 0


def test_the_demo_worlds_journeys_are_coherent(small_world):
    """Generator only: visits, login, tracked e-mail links and orders fit together as the truth says."""
    from datetime import datetime

    from ingestion.demo_world.generator import normalize_email

    def at(value: str) -> datetime:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))

    truth = {r["event_id"]: r for r in small_world.journeys}
    events = list({e["event_id"]: e for e in small_world.shop["events"]}.values())
    # a browser is anonymous until it logs in, and logged in from then on
    first_login: dict[str, datetime] = {}
    for e in events:
        if e["user_id"]:
            first_login[e["domain_userid"]] = min(first_login.get(e["domain_userid"], truth[e["event_id"]]["occurred_at"]),
                                                  truth[e["event_id"]]["occurred_at"])
    assert first_login
    for e in events:
        login = first_login.get(e["domain_userid"])
        assert (e["user_id"] is not None) == (login is not None and truth[e["event_id"]]["occurred_at"] >= login)
    anonymous_first = sum(1 for e in events if e["domain_userid"] in first_login and e["user_id"] is None)
    assert anonymous_first > 0.05 * len(events)
    # within a visit, events are minutes apart
    by_visit: dict[str, list[datetime]] = {}
    for r in small_world.journeys:
        by_visit.setdefault(r["visit_id"], []).append(r["occurred_at"])
    gaps = [b - a for times in by_visit.values() for a, b in zip(sorted(times), sorted(times)[1:])]
    assert max(gaps) <= timedelta(minutes=25)
    # a tracked link: the campaign's UTM and the clicking profile, seconds after that profile's click
    person_of = {(t["identifier_type"], t["identifier_value"]): t["person_id"] for t in small_world.ground_truth}
    profiles = {p["id"]: person_of[("esp_contact", normalize_email(p["attributes"]["email"].replace("\u200b", "")))]
                for p in small_world.esp["profiles"]}
    clicks = {(e["relationships"]["profile"]["data"]["id"], e["attributes"]["event_properties"]["$message"]): at(e["attributes"]["datetime"])
              for e in small_world.esp["events"] if e["relationships"]["metric"]["data"]["id"] == "ClkEml"}
    landings = [e for e in events if "_kx=" in (e["page_url"] or "")]
    assert landings
    for e in landings:
        profile = e["page_url"].split("_kx=")[1]
        assert (e["mkt_source"], e["mkt_medium"]) == ("klaviyo", "email")
        assert profiles[profile] == truth[e["event_id"]]["person_id"]
        assert timedelta(0) < truth[e["event_id"]]["occurred_at"] - clicks[(profile, e["mkt_campaign"])] <= timedelta(seconds=40)
    # an order ends a visit: its customer's browser was on the checkout page minutes before
    browser = {e["user_id"]: e["domain_userid"] for e in events if e["user_id"]}
    pages: dict[str, list[datetime]] = {}
    for e in events:
        if e["page_urlpath"] == "/checkout":
            pages.setdefault(e["domain_userid"], []).append(truth[e["event_id"]]["occurred_at"])
    checkout_pages = {customer: pages.get(visitor, []) for customer, visitor in browser.items()}
    for order in small_world.shop["orders"]:
        placed = at(order["created_at"])
        assert any(timedelta(seconds=30) <= placed - page <= timedelta(minutes=5)
                   for page in checkout_pages.get(str(order["customer"]["id"]), [])), order["id"]
    for checkout in small_world.shop["abandoned_checkouts"]:
        created = at(checkout["created_at"])
        assert any(timedelta(seconds=5) <= created - page <= timedelta(minutes=1)
                   for page in checkout_pages.get(str(checkout["customer"]["id"]), [])), checkout["id"]
