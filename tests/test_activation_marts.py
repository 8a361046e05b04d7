"""Planned campaigns as dbt builds them: segment membership against the demo world's truth, its entered/exited
history across builds, deterministic holdouts equal in SQL and Python, and a plan that respects the weekly cap and
never reaches a holdout.

The small world is built twice more on top of conftest's ``small_build``: as of the day a truly new customer's
first purchase is 7 days old (A), then one day later (B), so people enter and leave segments between builds for
reasons the world knows (the welcome week passes, a negative mention ages out)."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import jinja2
import pytest

from activation import definitions
from activation.holdout import holdout_bucket, in_holdout

from .conftest import copy_warehouse, dbt, rows
from .test_value import load_identity

MODELS = ("int_activation__segment_inputs", "segment_membership", "segment_members", "campaign_assignments", "campaign_plan")
MACROS = Path(__file__).resolve().parent.parent / "dbt_project" / "macros" / "activation.sql"


def utc(value) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def build(warehouse: Path, tmp: Path, as_of: date) -> dict:
    """The models that read the as-of moment, as of the end of ``as_of`` (UTC), and the activation marts."""
    return dbt(warehouse, tmp, "run", "--select", "int_value__as_of+,+campaign_plan", "person_source_ids",
               "--vars", f"{{as_of: '{as_of.isoformat()} 23:59:59+00'}}")  # fmt: skip


def table(warehouse: Path, relation: str) -> list[dict]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        cursor = con.execute(f"select * from {relation}")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


def evaluated(warehouse: Path) -> dict[str, set[str]]:
    """Each segment's `where` evaluated straight over the inputs the last build left."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {
            s["segment_id"]: {p for (p,) in con.execute(
                f"select person_id from intermediate.int_activation__segment_inputs where coalesce(({s['where']}), false)").fetchall()}
            for s in definitions.segments()
        }  # fmt: skip


def current(warehouse: Path) -> dict[str, set[str]]:
    members = defaultdict(set)
    for segment_id, person_id in rows(warehouse, "select segment_id, person_id from marts.segment_members"):
        members[segment_id].add(person_id)
    return members


# --- the world's truth ----------------------------------------------------------------------------------------------


def first_purchase_days(world) -> dict[str, date]:
    first: dict[str, date] = {}
    for t in world.value_transactions:
        day = utc(t["purchased_at"]).date()
        first[t["person_id"]] = min(first.get(t["person_id"], day), day)
    return first


def truth_segments(world, as_of: date) -> dict[str, set[str]]:
    """The rule-based segments from what the generator knows (its persons, not the warehouse's): purchases
    (value_transactions), loyalty memberships (ground truth) and the true sentiment of every text."""
    first = first_purchase_days(world)
    last_receipt: dict[str, date] = {}
    for t in world.value_transactions:
        day = utc(t["purchased_at"]).date()
        if t["channel"] == "pos" and day <= as_of:
            last_receipt[t["person_id"]] = max(last_receipt.get(t["person_id"], day), day)
    members = {t["person_id"] for t in world.ground_truth if t["identifier_type"] == "loyalty_member"}
    negative = {
        t["person_id"] for t in world.text_truth
        if t["label"] == "negative" and t["kind"] in ("mention", "review")
        and 0 <= (as_of - utc(t["occurred_at"]).date()).days <= 7
    }  # fmt: skip
    return {
        "welcome_day_7": {p for p, day in first.items() if (as_of - day).days == 7},
        "lapsed_loyalty": {p for p in members if p in last_receipt and (as_of - last_receipt[p]).days > 90},
        "negative_mention_follow_up": negative,
    }


# --- fixtures -------------------------------------------------------------------------------------------------------


class Builds:
    warehouse: Path
    identity: tuple
    as_of: tuple[date, date]
    history: list[list[dict]]  # segment_membership after build A, after build B
    evaluated: list[dict[str, set[str]]]
    current: list[dict[str, set[str]]]
    plans: list[list[dict]]


@pytest.fixture(scope="module")
def builds(small_build, small_world, tmp_path_factory) -> Builds:
    tmp = tmp_path_factory.mktemp("activation")
    warehouse = copy_warehouse(small_build.built, tmp / "warehouse")
    result = Builds()
    result.warehouse = warehouse
    result.identity = load_identity(warehouse, small_world)
    one_to_one = result.identity[2]
    # A: the latest day a resolved person's first purchase is exactly a week old (the world's window, not before)
    firsts = [day for p, day in first_purchase_days(small_world).items() if p in one_to_one]
    end = small_world.end.date()
    a = max(day + timedelta(days=7) for day in firsts if day + timedelta(days=7) < end)
    result.as_of = (a, a + timedelta(days=1))
    result.history, result.evaluated, result.current, result.plans = [], [], [], []
    for as_of in result.as_of:
        build(warehouse, tmp, as_of)
        result.history.append(table(warehouse, "marts.segment_membership"))
        result.evaluated.append(evaluated(warehouse))
        result.current.append(current(warehouse))
        result.plans.append(table(warehouse, "marts.campaign_plan"))
    tests = dbt(warehouse, tmp, "test", "--select", *MODELS, "path:tests/activation")
    assert tests and {r["status"] for r in tests.values()} == {"pass"}, {k: r["status"] for k, r in tests.items()}
    return result


# --- segments -------------------------------------------------------------------------------------------------------


def test_every_segment_is_defined_once_with_a_where(builds):
    ids = [s["segment_id"] for s in definitions.segments()]
    assert len(ids) == len(set(ids)) and {"at_risk_high_value", "welcome_day_7", "lapsed_loyalty",
                                          "negative_mention_follow_up"} <= set(ids)  # fmt: skip
    campaigns = definitions.campaigns()
    assert campaigns["cart_abandonment"]["trigger"] == "checkouts/update" and campaigns["cart_abandonment"]["segment_id"] is None
    assert all(c["segment_id"] in ids for c in campaigns.values() if c["trigger"] is None)


def test_current_members_are_exactly_the_segments_evaluated_over_the_inputs(builds):
    for evaluated_now, current_now in zip(builds.evaluated, builds.current):
        for segment_id, members in evaluated_now.items():
            assert current_now.get(segment_id, set()) == members, segment_id


def test_at_risk_high_value_is_exactly_customer_360s_p_alive_and_clv(builds):
    expected = {p for (p,) in rows(builds.warehouse, "select person_id from marts.customer_360 where p_alive < 0.5 and clv_12m > 200")}
    assert builds.current[-1].get("at_risk_high_value", set()) == expected


@pytest.mark.parametrize(
    "segment_id, precision, recall",
    [("welcome_day_7", 1.0, 1.0), ("lapsed_loyalty", 0.95, 0.9), ("negative_mention_follow_up", 0.8, 0.7)],
)
def test_segments_match_the_worlds_truth(builds, small_world, segment_id, precision, recall):
    """Compared on the people the identity graph resolved one to one (the others cannot be told apart)."""
    one_to_one = builds.identity[2]
    back = {w: t for t, w in one_to_one.items()}
    for as_of, members in zip(builds.as_of, builds.current):
        truth = {one_to_one[p] for p in truth_segments(small_world, as_of)[segment_id] if p in one_to_one}
        found = {p for p in members.get(segment_id, set()) if p in back}
        if segment_id == "welcome_day_7" and as_of == builds.as_of[0]:
            assert truth, "the chosen as-of day has a customer in their welcome week"
        hits = len(truth & found)
        print(f"{segment_id} as of {as_of}: {len(found)} found, {len(truth)} true, {hits} both")
        assert (hits / len(found) if found else 1.0) >= precision, (as_of, segment_id, len(found), hits)
        assert (hits / len(truth) if truth else 1.0) >= recall, (as_of, segment_id, len(truth), hits)


# --- entered/exited history -------------------------------------------------------------------------------------------


def test_the_history_survives_builds_and_adds_only_the_changes(builds):
    first, second = builds.history
    key = lambda r: (r["segment_id"], r["person_id"], r["event"], r["evaluation_id"])  # noqa: E731
    assert {key(r) for r in first} <= {key(r) for r in second}, "a build rewrote earlier rows"
    new = [r for r in second if key(r) not in {key(r) for r in first}]
    assert len({r["evaluation_id"] for r in new}) == 1
    before, after = builds.current
    for segment_id in set(before) | set(after):
        entered = {r["person_id"] for r in new if r["segment_id"] == segment_id and r["event"] == "entered"}
        exited = {r["person_id"] for r in new if r["segment_id"] == segment_id and r["event"] == "exited"}
        assert entered == after.get(segment_id, set()) - before.get(segment_id, set()), segment_id
        assert exited == before.get(segment_id, set()) - after.get(segment_id, set()), segment_id


def test_events_alternate_and_the_latest_is_the_current_state(builds):
    events = defaultdict(list)
    for r in sorted(builds.history[-1], key=lambda r: r["evaluated_at"]):
        events[(r["segment_id"], r["person_id"])].append(r["event"])
    for (segment_id, person_id), sequence in events.items():
        assert sequence[0] == "entered" and all(a != b for a, b in zip(sequence, sequence[1:])), (segment_id, sequence)
        assert (sequence[-1] == "entered") == (person_id in builds.current[-1].get(segment_id, set()))


def test_a_welcome_week_member_exits_the_day_after(builds):
    welcomed = builds.current[0].get("welcome_day_7", set())
    assert welcomed
    exits = {r["person_id"] for r in builds.history[1] if r["segment_id"] == "welcome_day_7" and r["event"] == "exited"
             and r["as_of_date"] == builds.as_of[1]}  # fmt: skip
    assert welcomed <= exits


# --- holdouts -------------------------------------------------------------------------------------------------------


def macro_holdout_bucket_sql() -> str:
    """The dbt macro as dbt renders it on DuckDB (plain Jinja, with the portable macros it calls: ``adapter.dispatch``
    picks their ``default__``, DuckDB's SQL)."""

    class Adapter:
        def dispatch(self, name):
            return getattr(module, f"default__{name}")

    portable = MACROS.parent / "portability" / "functions.sql"
    template = jinja2.Environment(extensions=["jinja2.ext.do"]).from_string(MACROS.read_text() + portable.read_text())
    module = template.make_module(vars={"adapter": Adapter(), "return": lambda value: value})
    return str(module.holdout_bucket("person_id", "campaign_id"))


def test_the_sql_holdout_bucket_equals_pythons_for_many_persons(builds):
    rng = random.Random(10)
    persons = [p for (p,) in rows(builds.warehouse, "select person_id from marts.customer_360")]
    persons += [f"person_{rng.getrandbits(64):016x}" for _ in range(3000)]
    campaign_ids = list(definitions.campaigns())
    pairs = [(p, c) for p in persons for c in campaign_ids]
    import pyarrow as pa

    pairs_table = pa.table({"person_id": [p for p, _ in pairs], "campaign_id": [c for _, c in pairs]})  # noqa: F841 (read by DuckDB)
    with duckdb.connect() as con:
        got = con.execute(f"select person_id, campaign_id, {macro_holdout_bucket_sql()} from pairs_table").fetchall()
    assert len(got) == len(pairs) >= 10_000
    assert all(bucket == holdout_bucket(p, c) for p, c, bucket in got)
    share = sum(bucket < 0.10 for _, _, bucket in got) / len(got)
    assert abs(share - 0.10) <= 4 * math.sqrt(0.10 * 0.90 / len(got))  # a binomial bound, four standard errors


def test_assignments_hold_out_the_campaigns_share_the_same_way_as_python(builds):
    campaigns = definitions.campaigns()
    assignments = table(builds.warehouse, "marts.campaign_assignments")
    assert assignments
    for a in assignments:
        share = campaigns[a["campaign_id"]]["holdout_share"]
        assert a["holdout_bucket"] == holdout_bucket(a["person_id"], a["campaign_id"])
        assert (a["arm"] == "holdout") == in_holdout(a["person_id"], a["campaign_id"], share)
    n, held = len(assignments), sum(a["arm"] == "holdout" for a in assignments)
    assert abs(held / n - 0.10) <= 4 * math.sqrt(0.10 * 0.90 / n)


# --- the plan -------------------------------------------------------------------------------------------------------


def test_the_plan_respects_the_cap_and_never_reaches_a_holdout(builds):
    cap, campaigns = definitions.frequency_cap_per_week(), definitions.campaigns()
    plan = builds.plans[-1]
    assert plan
    per_week = defaultdict(list)
    for row in plan:
        per_week[(row["person_id"], row["week"])].append(row)
        assert not in_holdout(row["person_id"], row["campaign_id"], campaigns[row["campaign_id"]]["holdout_share"])
    assert max(len(sends) for sends in per_week.values()) <= cap
    for sends in per_week.values():  # the cap keeps the highest priorities of each build
        assert sorted(r["send_of_week"] for r in sends) == list(range(1, len(sends) + 1))


def test_the_plan_sends_to_every_eligible_person_up_to_the_cap(builds):
    cap, campaigns = definitions.frequency_cap_per_week(), definitions.campaigns()
    consent = {p: c for p, c in rows(builds.warehouse, "select person_id, consent_email_marketing from marts.customer_360")}
    esp = {p for (p,) in rows(builds.warehouse, "select person_id from marts.person_source_ids where id_type = 'esp_profile'")}
    eligible = defaultdict(set)
    for a in table(builds.warehouse, "marts.campaign_assignments"):
        if a["arm"] == "treatment" and campaigns[a["campaign_id"]]["destination"] == "esp" and consent.get(a["person_id"]) and a["person_id"] in esp:
            eligible[a["person_id"]].add(a["campaign_id"])
    week = builds.plans[-1][0]["week"]
    planned = defaultdict(set)
    for row in builds.plans[-1]:
        assert consent[row["person_id"]] and row["person_id"] in esp and row["esp_profile_id"]
        if row["week"] == week:
            planned[row["person_id"]].add(row["campaign_id"])
    assert eligible
    for person_id, wanted in eligible.items():
        assert len(planned[person_id]) >= min(cap, len(wanted)), person_id
        if len(wanted) <= cap:
            assert wanted <= planned[person_id]


def test_forget_removes_the_person_from_the_incremental_marts(builds, tmp_path):
    """``journey forget`` deletes an erased person's ids from the marts dbt keeps across builds
    (ingestion.erasure.delete_person_ids); the activation marts are among them."""
    from ingestion import erasure

    warehouse = copy_warehouse(builds.warehouse, tmp_path)
    person_id = builds.plans[-1][0]["person_id"]
    with duckdb.connect(str(warehouse)) as con:
        removed = erasure.delete_person_ids(con, {person_id})
    assert {"marts.segment_membership", "marts.campaign_plan"} <= set(removed)
    for relation in ("marts.segment_membership", "marts.segment_members", "marts.campaign_assignments", "marts.campaign_plan"):
        assert rows(warehouse, f"select count(*) from {relation} where person_id = '{person_id}'") == [(0,)], relation


def test_a_full_refresh_starts_the_history_over_from_the_current_members(builds, tmp_path):
    warehouse = copy_warehouse(builds.warehouse, tmp_path / "warehouse")
    dbt(warehouse, tmp_path, "run", "--select", "segment_membership", "segment_members", "--full-refresh",
        "--vars", f"{{as_of: '{builds.as_of[1].isoformat()} 23:59:59+00'}}")  # fmt: skip
    history = table(warehouse, "marts.segment_membership")
    assert {r["event"] for r in history} == {"entered"} and len({r["evaluation_id"] for r in history}) == 1
    assert current(warehouse) == builds.current[1]


def test_the_dbt_data_tests_catch_a_broken_cap_and_a_planned_holdout(builds, tmp_path):
    """The plan's singular tests fail on a plan that breaks them (a fourth send in a week, a held-out person)."""
    from orchestration.lib.dbt import run_dbt

    campaigns = definitions.campaigns()
    planned = [c for c in campaigns.values() if c["trigger"] is None and c["destination"] == "esp"]
    held = next((p, c["campaign_id"]) for p in (f"person_probe_{i}" for i in range(1000)) for c in planned[:1]
                if in_holdout(p, c["campaign_id"], c["holdout_share"]))  # fmt: skip
    warehouse = copy_warehouse(builds.warehouse, tmp_path / "warehouse")
    with duckdb.connect(str(warehouse)) as con:
        template = con.execute("select * from marts.campaign_plan limit 1").fetchone()
        names = [d[0] for d in con.description]
        row = dict(zip(names, template))
        for i, campaign in enumerate(planned[: definitions.frequency_cap_per_week() + 1]):
            con.execute(f"insert into marts.campaign_plan ({', '.join(names)}) values ({', '.join('?' for _ in names)})",
                        list({**row, "person_id": "person_probe_cap", "campaign_id": campaign["campaign_id"]}.values()))  # fmt: skip
        con.execute(f"insert into marts.campaign_plan ({', '.join(names)}) values ({', '.join('?' for _ in names)})",
                    list({**row, "person_id": held[0], "campaign_id": held[1], "week": "1999-W01"}.values()))  # fmt: skip
    done = run_dbt(["test", "--select", "path:tests/activation"], warehouse, tmp_path / "target", log_dir=tmp_path / "logs")
    assert done.returncode != 0
    from .conftest import built_nodes

    results = built_nodes(tmp_path / "target")
    assert results["campaign_plan_respects_the_frequency_cap"]["status"] == "fail"
    assert results["campaign_plan_never_plans_a_holdout"]["status"] == "fail"
