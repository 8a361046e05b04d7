"""demo_world.cut.until: the world as it stood at an instant (what an incremental load sees on an earlier day)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner

from ingestion.demo_world.cut import CUTS, at, until

# per (system, table): the time a record comes into being (as demo_world.cut documents it), read independently
CREATED = {
    ("shop", "customers"): "created_at", ("shop", "orders"): "created_at", ("shop", "abandoned_checkouts"): "created_at",
    ("shop", "events"): "collector_tstamp", ("shop", "customer_events"): "created_at",
    ("shop", "deleted_customers"): "created_at", ("shop", "products"): "created_at", ("shop", "reviews"): "created_at",
    ("esp", "campaigns"): "attributes.created_at", ("esp", "campaign_messages"): "attributes.created_at",
    ("esp", "metrics"): "attributes.created", ("esp", "profiles"): "attributes.created",
    ("esp", "events"): "attributes.datetime",
    ("social", "posts"): "created_time", ("social", "comments"): "created_time", ("social", "tags"): "created_time",
    ("social", "reactions"): "created_time", ("social", "sharedposts"): "created_time",
    ("social", "checkins"): "created_time",
    ("loyalty", "members"): "joined_at", ("loyalty", "cards"): "issued_at", ("loyalty", "receipts"): "purchased_at",
    ("loyalty", "points"): "created_at", ("loyalty", "consents"): "decided_at",
    ("iot", "devices"): "registered_at", ("iot", "device_changes"): "updated_at", ("iot", "readings"): "recorded_at",
}
# the update times no row of a cut may hold at or after its end (they would move an incremental cursor past it)
UPDATED = {
    "shop": ("updated_at", "closed_at", "accepts_marketing_updated_at"), "esp": ("attributes.updated_at", "attributes.updated"),
    "social": ("updated_time",), "loyalty": ("updated_at", "deleted_at"), "iot": ("updated_at",),
}


def _get(row: dict, path: str):
    for part in path.split("."):
        row = row.get(part) if isinstance(row, dict) else None
    return row


def _key(system: str, row: dict) -> str:
    for name in ("id", "event_id", "reading_id", "points_txn_id", "consent_id", "receipt_id", "card_number", "member_id", "device_id"):
        if name in row:
            return f"{row[name]}|{_get(row, 'updated_at') if name == 'device_id' else ''}|{row.get('collector_tstamp', '')}"
    raise AssertionError(f"{system}: no key in {sorted(row)}")


def test_cut_at_the_end_is_the_world(small_world):
    cut = until(small_world, small_world.end)
    assert cut.fingerprint() == small_world.fingerprint()
    assert cut.end == small_world.end and cut.days == small_world.days
    for name in ("journeys", "text_truth", "value_transactions", "consent_decisions", "consent_truth", "campaign_truth"):
        assert getattr(cut, name) == getattr(small_world, name), name
    assert cut.loyalty_late == small_world.loyalty_late
    assert until(small_world, small_world.end + timedelta(days=5)).fingerprint() == small_world.fingerprint()


def test_every_table_has_a_rule(small_world):
    tables = {(s, t) for s, ts in small_world.tables().items() for t in ts}
    assert tables <= set(CUTS), tables - set(CUTS)
    assert set(CREATED) == set(CUTS)


@pytest.mark.parametrize("days_before", [1, 7])
def test_cut_drops_exactly_what_came_later(small_world, days_before):
    end = small_world.end - timedelta(days=days_before)
    fingerprint = small_world.fingerprint()
    cut = until(small_world, end)
    assert small_world.fingerprint() == fingerprint  # the world itself is untouched
    assert cut.end == end
    dropped = 0
    for (system, table), field in CREATED.items():
        rows = small_world.tables()[system].get(table, [])
        expected = {_key(system, r) for r in rows if at(_get(r, field)) < end}
        got = [_key(system, r) for r in cut.tables()[system].get(table, [])]
        assert len(got) == len(set(got)) and set(got) == expected, (system, table)
        dropped += len(rows) - len(got)
        for row in cut.tables()[system].get(table, []):
            for update in UPDATED[system]:
                value = _get(row, update)
                assert value is None or at(value) < end, (system, table, update, value)
    assert dropped > 0
    # the events the storefront's collector received late: occurred before the cut, received after it
    events = small_world.shop["events"]
    late = [e for e in events if at(e["derived_tstamp"]) < end <= at(e["collector_tstamp"])]
    kept = {e["event_id"] for e in cut.shop["events"]}
    assert late  # the cut splits some: happened before it, received after
    assert all(at(e["collector_tstamp"]) < end for e in cut.shop["events"])
    assert {e["event_id"] for e in late} - kept  # their first copy (not a duplicate received before) is missing
    assert {j["event_id"] for j in cut.journeys} == kept
    # late tills: their receipts before the cut still wait to sync
    assert cut.loyalty_late["receipts"] == [r for r in small_world.loyalty_late["receipts"] if at(r["purchased_at"]) < end]
    # truth
    assert all(at(t["occurred_at"]) < end for t in cut.text_truth)
    assert len(cut.text_truth) == sum(at(t["occurred_at"]) < end for t in small_world.text_truth)
    assert len(cut.value_transactions) == sum(at(t["purchased_at"]) < end for t in small_world.value_transactions)
    assert all(at(d["decided_at"]) < end for d in cut.consent_decisions)
    customers = {str(c["id"]) for c in cut.shop["customers"]}
    shop_truth = {t["identifier_value"] for t in cut.ground_truth if t["identifier_type"] == "shop_customer"}
    assert shop_truth == customers & {t["identifier_value"] for t in small_world.ground_truth if t["identifier_type"] == "shop_customer"}
    assert len(cut.ground_truth) < len(small_world.ground_truth) or days_before == 1


def test_rows_changed_after_the_cut_are_set_back(small_world):
    end = small_world.end - timedelta(days=3)
    cut = until(small_world, end)
    orders = {o["id"]: o for o in small_world.shop["orders"]}
    changed = [o for o in cut.shop["orders"] if at(orders[o["id"]]["updated_at"]) >= end]
    assert changed, "no order of the small world changes after the cut: pick another instant"
    for order in changed:
        assert order["updated_at"] == order["created_at"] and order["closed_at"] is None
        assert order["financial_status"] in ("paid", "pending")
    # the ESP: unsubscribes after the cut are undone, the profile subscribed as before
    unsubscribed_later = {
        e["relationships"]["profile"]["data"]["id"] for e in small_world.esp["events"]
        if e["relationships"]["metric"]["data"]["id"] == "UnsEml" and at(e["attributes"]["datetime"]) >= end
    }
    for profile in cut.esp["profiles"]:
        if profile["id"] in unsubscribed_later:
            assert profile["attributes"]["subscriptions"]["email"]["marketing"]["consent"] != "UNSUBSCRIBED"
    # consent truth: the latest decision before the cut
    truth = {(t["person_id"], t["purpose"]): t for t in cut.consent_truth}
    for decision in cut.consent_decisions:
        assert truth[(decision["person_id"], decision["purpose"])]["decided_at"] >= decision["decided_at"]


def test_cli_until_writes_the_cut(tmp_path, monkeypatch, small_world):
    from orchestration.cli import cli

    monkeypatch.setenv("JW_DATA_DIR", str(tmp_path))
    end = small_world.end - timedelta(days=2)
    result = CliRunner().invoke(cli, ["world", "generate", "--seed", "7", "--people", "300", "--days", "21",
                                      "--until", end.strftime("%Y-%m-%dT%H:%M")])
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "source_systems" / "world.json").read_text())
    assert written["fingerprint"] == until(small_world, end).fingerprint() != small_world.fingerprint()
    events = json.loads((tmp_path / "source_systems" / "api" / "shop" / "events.json").read_text())
    assert max(at(e["collector_tstamp"]) for e in events) < end
    bad = CliRunner().invoke(cli, ["world", "generate", "--people", "300", "--days", "21", "--until", "yesterday"])
    assert bad.exit_code != 0
