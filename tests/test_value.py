"""Value marts (transactions, RFM, lifecycle history, cohorts, customer_360's value traits) on the small world.

dbt only, against a raw warehouse loaded once, building just what the value marts need. The generator's purchases
score them row for row: every purchase of a known person is one transaction (refunds are none, an imported order that
repeats a shop order counts once), and recency, frequency and monetary value of every person that identity resolved
one to one equal what the generator's purchases give. The lifecycle history is recomputed day by day from its rules
(dbt unit tests in models/marts/value cover the rules on hand-made cases), cohorts from the transactions.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from ingestion import config, pipelines
from ingestion.demo_world.writers import sync_late_tills, write_world

from .conftest import dbt, rows

PROJECT = Path(__file__).resolve().parents[1] / "dbt_project"
VALUE_MODELS = ["path:models/intermediate/value", "path:models/marts/value", "customer_360", "path:tests/value"]
STAGES = ("prospect", "new", "active", "at risk", "lapsed", "reactivated")


def lifecycle_vars() -> dict[str, int]:
    values = yaml.safe_load((PROJECT / "dbt_project.yml").read_text())["vars"]
    return {k.removeprefix("lifecycle_").removesuffix("_days"): int(v) for k, v in values.items() if k.startswith("lifecycle_")}


# --- the generator's side ---------------------------------------------------------------------------------------


def utc(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def truth_transactions(world, history_identifiers: dict[str, tuple[str, str]]) -> list[dict]:
    """The generator's purchases (world.value_transactions): transaction_id, person_id (the generator's), source,
    channel, purchased_at (UTC), amount (Decimal) and the identifier it was made with (identifier_type,
    identifier_value): the order's shop customer, the receipt's card, or what the history row names
    (``history_identifiers``, by history order id: how the warehouse read the file)."""
    card_of = {r["receipt_id"]: r["card_number"] for r in world.loyalty["receipts"] + world.loyalty_late.get("receipts", [])}
    customer_of = {str(o["id"]): str(o["customer"]["id"]) for o in world.shop["orders"] if o.get("customer")}
    identifier = {
        "shop": lambda t: ("shop_customer", customer_of.get(t["transaction_id"])),
        "pos": lambda t: ("loyalty_card", card_of.get(t["transaction_id"])),
        "history": lambda t: history_identifiers.get(t["transaction_id"]),
    }
    midnight = dict(hour=0, minute=0, second=0, microsecond=0)
    return [
        {**t, "amount": Decimal(str(t["amount"])).quantize(Decimal("0.01")), "identifier": identifier[t["source"]](t),
         # an export has days, no time of day: an imported purchase is at midnight UTC of its day
         "purchased_at": utc(t["purchased_at"]).replace(**midnight) if t["source"] == "history" else utc(t["purchased_at"])}
        for t in world.value_transactions
    ]


# --- fixtures -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(small_world, tmp_path_factory):
    """The small world loaded raw (the late tills synced before, so every purchase is there) and the value marts
    built with what they need (attribution left out)."""
    tmp = tmp_path_factory.mktemp("value")
    systems = tmp / "source_systems"
    paths = write_world(small_world, systems)
    sync_late_tills(small_world, paths["loyalty"])
    warehouse = tmp / "warehouse.duckdb"
    with pipelines.source_endpoints(systems) as endpoints:
        for name in config.SOURCE_NAMES:  # the history files too, once there is a history source
            info = pipelines.load(name, endpoints, warehouse=warehouse, pipelines_dir=tmp / "dlt")
            assert not info.has_failed_jobs
    # the models (and the identity blocklist seed) in one dbt call, then the value tests: every dbt call parses
    dbt(warehouse, tmp, "build", "--select", "+customer_360", "+person_identifiers", "+cohort_retention", "+lifecycle_transitions",
        "--exclude-resource-type", "test", "--exclude-resource-type", "unit_test")
    # cautious: the tests of these models alone, not those that also read models this build left out (kpi_daily's)
    results = dbt(warehouse, tmp, "test", "--select", *VALUE_MODELS, "--indirect-selection", "cautious")
    assert results and {r["status"] for r in results.values()} == {"pass"}
    return warehouse


def load_truth(warehouse: Path, world) -> list[dict]:
    history = {h: (t, v) for h, t, v in rows(warehouse, "select history_order_id, identifier_type, identifier_value "
                                                        "from pii.stg_history__orders")}
    return truth_transactions(world, history)


def load_transactions(warehouse: Path) -> dict[str, dict]:
    return {
        t: {"person_id": p, "source": s, "channel": c, "purchased_at": at, "purchase_date": d, "amount": a}
        for t, p, s, c, at, d, a in rows(warehouse, "select transaction_id, person_id, source, channel, purchased_at, "
                                                    "purchase_date, amount from intermediate.int_value__transactions")
    }


def load_identity(warehouse: Path, world):
    """How the generator's persons and the warehouse's persons correspond, through the ground truth:
    (warehouse person per identifier, warehouse persons per true person, true persons resolved one to one)."""
    warehouse_person = {(t, v): p for t, v, p in rows(warehouse, "select identifier_type, identifier_value, person_id "
                                                                 "from pii.person_identifiers")}
    to_warehouse, to_truth = defaultdict(Counter), defaultdict(Counter)
    for t in world.ground_truth:
        w = warehouse_person.get((t["identifier_type"], t["identifier_value"]))
        if w:
            to_warehouse[t["person_id"]][w] += 1
            to_truth[w][t["person_id"]] += 1
    one_to_one = {p: next(iter(ws)) for p, ws in to_warehouse.items() if len(ws) == 1 and len(to_truth[next(iter(ws))]) == 1}
    return warehouse_person, to_warehouse, one_to_one


def load_as_of(warehouse: Path) -> tuple[datetime, date]:
    return rows(warehouse, "select as_of_at, as_of_date from intermediate.int_value__as_of")[0]


@pytest.fixture(scope="module")
def truth(built, small_world) -> list[dict]:
    return load_truth(built, small_world)


@pytest.fixture(scope="module")
def warehouse_transactions(built) -> dict[str, dict]:
    return load_transactions(built)


@pytest.fixture(scope="module")
def identity(built, small_world):
    return load_identity(built, small_world)


@pytest.fixture(scope="module")
def as_of(built) -> tuple[datetime, date]:
    return load_as_of(built)


# --- transactions -------------------------------------------------------------------------------------------------


def test_every_purchase_of_a_known_person_is_one_transaction(truth, warehouse_transactions, identity):
    check_transactions(truth, warehouse_transactions, identity)


def check_transactions(truth: list[dict], warehouse_transactions: dict, identity, left_out: set[str] = frozenset()) -> None:
    """Refunded orders are no purchase of the generator's; an imported row that repeats a live order is none either
    (the live order is), so equal sets mean none lost, none made up, none counted twice. ``left_out``: purchases the
    run never loaded (receipts of tills that had not synced)."""
    warehouse_person, to_warehouse, _ = identity
    # every imported row names somebody (a record of its own if need be); a live purchase is a known person's when
    # the warehouse knows its account or card
    known = {t["transaction_id"]: t for t in truth
             if t["transaction_id"] not in left_out and (t["source"] == "history" or t["identifier"] in warehouse_person)}
    assert len(known) >= 0.95 * len(truth)  # only purchases of erased accounts are nobody's
    assert {t["source"] for t in known.values()} == {"shop", "pos", "history"}
    assert set(warehouse_transactions) == set(known)  # none lost, none made up (refunds, duplicates)
    for transaction_id, t in known.items():
        got = warehouse_transactions[transaction_id]
        assert (got["source"], got["channel"], got["amount"], got["purchased_at"]) == (t["source"], t["channel"], t["amount"], t["purchased_at"]), transaction_id
        assert got["purchase_date"] == t["purchased_at"].date()
        assert got["person_id"] == warehouse_person[t["identifier"]]
    # the buyer is the true person's: the warehouse person most of the person's identifiers resolved to
    right = sum(1 for t in known.values()
                if warehouse_transactions[t["transaction_id"]]["person_id"] == to_warehouse[t["person_id"]].most_common(1)[0][0])
    assert right >= 0.97 * len(known)


def test_refunded_and_cancelled_orders_are_no_transactions(small_world, warehouse_transactions):
    refunded = [str(o["id"]) for o in small_world.shop["orders"] if o["financial_status"] != "paid" or o.get("cancelled_at")]
    assert refunded
    assert not set(refunded) & set(warehouse_transactions)


# --- RFM ----------------------------------------------------------------------------------------------------------


def test_rfm_equals_the_generators_purchases_per_person(built, truth, identity, as_of):
    check_rfm(built, truth, identity, as_of)


def check_rfm(warehouse: Path, truth: list[dict], identity, as_of, left_out: set[str] = frozenset()) -> None:
    """Recency, frequency, monetary value and first purchase of every buyer identity resolved one to one equal what
    the generator's purchases (up to the as-of moment) give."""
    warehouse_person, _, one_to_one = identity
    as_of_at, as_of_date = as_of
    purchases = defaultdict(list)
    for t in truth:
        if t["identifier"] in warehouse_person and t["purchased_at"] <= as_of_at and t["transaction_id"] not in left_out:
            purchases[t["person_id"]].append(t)
    buyers = [p for p in purchases if p in one_to_one]
    assert len(buyers) >= 0.9 * len(purchases)  # identity resolved nearly every buyer one to one
    rfm = {r[0]: r[1:] for r in rows(warehouse, "select person_id, recency_days, frequency, monetary, first_purchase_date "
                                                "from marts.customer_rfm")}
    for person in buyers:
        bought = purchases[person]
        last = max(t["purchased_at"] for t in bought).date()
        expected = ((as_of_date - last).days, len(bought), sum(t["amount"] for t in bought), min(t["purchased_at"] for t in bought).date())
        assert rfm[one_to_one[person]] == expected, person
    # nobody without a purchase is a customer
    customers = {w for p, w in one_to_one.items() if p in purchases}
    assert not {w for w in one_to_one.values() if w in rfm} - customers


def test_rfm_scores_are_quintiles_where_ties_share_a_score(built):
    scored = rows(built, "select recency_days, frequency, monetary, r_score, f_score, m_score, segment from marts.customer_rfm")
    n = len(scored)
    assert n > 50
    for value, score, best_high in ((0, 3, False), (1, 4, True), (2, 5, True)):
        ordered = sorted(r[value] for r in scored)
        if not best_high:
            ordered = ordered[::-1]
        for r in scored:
            rank = ordered.index(r[value])  # the lowest position of the value among equals, 0-based
            assert r[score] == 1 + (5 * rank) // n
        assert len({r[score] for r in scored}) >= 3
    assert len({r[6] for r in scored}) >= 5  # the small world's customers spread over segments


# --- lifecycle ----------------------------------------------------------------------------------------------------


def lifecycle(first_known: date, purchase_days: set[date], as_of_date: date, rules: dict[str, int]) -> list[tuple]:
    """The stages of one person day by day from the rules in the docs (not the model's change-day algebra):
    ``[(stage, valid_from, valid_to or None), ...]``."""
    out: list[list] = []
    first = min(purchase_days) if purchase_days else None
    last = reactivated = None
    day = first_known
    while day <= as_of_date:
        if day in purchase_days:
            if last is not None and (day - last).days > rules["lapsed"]:
                reactivated = day
            last = day
        if last is None:
            stage = "prospect"
        elif (day - last).days >= rules["lapsed"]:
            stage = "lapsed"
        elif (day - last).days >= rules["at_risk"]:
            stage = "at risk"
        elif (day - first).days < rules["new"]:
            stage = "new"
        elif reactivated is not None and (day - reactivated).days < rules["reactivated"]:
            stage = "reactivated"
        else:
            stage = "active"
        if not out or out[-1][0] != stage:
            if out:
                out[-1][2] = day
            out.append([stage, day, None])
        day += timedelta(days=1)
    return [tuple(r) for r in out]


def test_lifecycle_history_follows_the_rules_day_by_day(built):
    check_lifecycle(built)


def check_lifecycle(built: Path) -> Counter:
    """Every person's history row for row against the rules applied day by day; the stages' row counts."""
    _, as_of_date = load_as_of(built)
    rules = lifecycle_vars()
    days = defaultdict(set)
    for person, day in rows(built, "select person_id, purchase_date from intermediate.int_value__purchase_days"):
        days[person].add(day)
    people = rows(built, "select person_id, first_known_date from intermediate.int_value__people")
    history = defaultdict(list)
    for person, stage, valid_from, valid_to, current in rows(
        built, "select person_id, stage, valid_from, valid_to, is_current from marts.customer_lifecycle_history order by 1, 3"
    ):
        history[person].append((stage, valid_from, valid_to))
        assert current == (valid_to is None)
    assert {p for p, _ in people} == {p for (p,) in rows(built, "select distinct person_id from intermediate.int_identity__identifier_map "
                                                                  "where person_id is not null")}
    assert set(history) == {p for p, _ in people}  # every person, each with one current row (the last)
    for person, first_known in people:
        assert history[person] == lifecycle(first_known, days[person], as_of_date, rules), person
    stages = Counter(stage for h in history.values() for stage, _, _ in h)
    assert stages["prospect"] and stages["new"]
    return stages


def test_lifecycle_transitions_count_the_historys_moves(built):
    moves = Counter()
    persons = defaultdict(set)
    for person, previous, stage, valid_from in rows(
        built, "select person_id, previous_stage, stage, valid_from from marts.customer_lifecycle_history where previous_stage is not null"
    ):
        key = (valid_from.replace(day=1), previous, stage)
        moves[key] += 1
        persons[key].add(person)
    got = {(m, f, t): (p, n) for m, f, t, p, n in rows(built, "select * from marts.lifecycle_transitions")}
    assert got == {k: (len(persons[k]), n) for k, n in moves.items()}


# --- cohorts ------------------------------------------------------------------------------------------------------


def months_between(a: date, b: date) -> int:
    return (b.year - a.year) * 12 + b.month - a.month


def test_cohort_retention_reconciles_with_the_transactions(built, warehouse_transactions, as_of):
    as_of_at, as_of_date = as_of
    bought = defaultdict(list)
    for t in warehouse_transactions.values():
        if t["purchased_at"] <= as_of_at:
            bought[t["person_id"]].append(t)
    cohort = {p: min(t["purchase_date"] for t in ts).replace(day=1) for p, ts in bought.items()}
    expected = {}
    for month, size in Counter(cohort.values()).items():
        for since in range(months_between(month, as_of_date) + 1):
            expected[(month, since)] = [size, set(), 0, Decimal("0")]
    for person, ts in bought.items():
        for t in ts:
            cell = expected[(cohort[person], months_between(cohort[person], t["purchase_date"]))]
            cell[1].add(person)
            cell[2] += 1
            cell[3] += t["amount"]
    got = {(c, s): (n, a, k, r, rate) for c, s, n, a, k, r, rate in rows(
        built, "select cohort_month, months_since_first_purchase, customers, active_customers, transactions, revenue, retention_rate "
               "from marts.cohort_retention")}
    assert got == {k: (n, len(a), k_, r, len(a) / n) for k, (n, a, k_, r) in expected.items()}


# --- customer_360 -------------------------------------------------------------------------------------------------


def test_customer_360_carries_the_value_traits(built):
    mismatches = rows(built, """
        select c.person_id
        from marts.customer_360 c
        left join marts.customer_rfm r using (person_id)
        left join marts.customer_lifecycle_history h on h.person_id = c.person_id and h.is_current
        where c.rfm_segment is distinct from r.segment
            or c.lifecycle_stage is distinct from h.stage
            or c.historical_revenue <> coalesce(r.monetary, 0)
            or c.cohort_month is distinct from date_trunc('month', r.first_purchase_date)
    """)
    assert mismatches == []
    assert rows(built, "select count(*) from marts.customer_360 where historical_revenue > 0")[0][0] > 50


# --- as of another day ----------------------------------------------------------------------------------------------


def test_value_marts_as_of_a_day_in_the_past(built, small_world, truth, identity, tmp_path):
    """var as_of in the middle of the world: purchases after it count nowhere, the history ends on it."""
    warehouse_person, _, one_to_one = identity
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(built, warehouse)
    moment = small_world.start + (small_world.end - small_world.start) / 2
    as_of_at = moment.astimezone(timezone.utc).replace(microsecond=0)
    variables = json.dumps({"as_of": as_of_at.isoformat()})
    value_models = ["path:models/intermediate/value", "path:models/marts/value", "path:tests/value"]
    results = dbt(warehouse, tmp_path, "build", "--select", *value_models, "--exclude", "test_type:unit", "--vars", variables,
                  "--indirect-selection", "cautious")  # not kpi_daily's test, which reads models left out here
    assert {r["status"] for r in results.values()} == {"success", "pass"}
    assert rows(warehouse, "select as_of_at, as_of_date from intermediate.int_value__as_of") == [(as_of_at, as_of_at.date())]
    frequency = Counter(t["person_id"] for t in truth if t["identifier"] in warehouse_person and t["purchased_at"] <= as_of_at)
    got = dict(rows(warehouse, "select person_id, frequency from marts.customer_rfm"))
    expected = {one_to_one[p]: n for p, n in frequency.items() if p in one_to_one}
    assert {w: got.get(w) for w in expected} == expected
    assert rows(warehouse, f"select count(*) from marts.customer_lifecycle_history where valid_from > date '{as_of_at.date()}'") == [(0,)]
