"""The planned-campaign and ad-audience exports on a real Dagster instance: from the small world's build, published
as the serving copy, to held outbox rows, then released; no clear PII, no holdout, no duplicate on a re-run."""

from __future__ import annotations

import json
import re

import dagster as dg
import duckdb
import pytest

from activation import definitions, store
from activation.holdout import in_holdout
from activation.planned import normalize_email, normalize_phone, sha256_hex

from .conftest import copy_warehouse, rows

HEX64 = re.compile(r"^[0-9a-f]{64}$")


@pytest.fixture()
def served(small_build, tmp_path, monkeypatch):
    """A data folder of its own: the small build's warehouse, its serving copy, an empty activation store."""
    from ingestion import config
    from orchestration.serving import publish_serving

    data = tmp_path / "data"
    monkeypatch.setenv("JW_DATA_DIR", str(data))
    for var in ("JW_SERVING_PATH", "JW_ACTIVATION_DB_URL", "JW_WAREHOUSE_PATH"):
        monkeypatch.delenv(var, raising=False)
    store.dispose()
    warehouse = copy_warehouse(small_build.built, data)
    publish_serving(warehouse, config.serving_path())
    yield warehouse
    store.dispose()


def materialize(asset, instance) -> dg.MaterializeResult:
    result = dg.materialize([asset], instance=instance)
    assert result.success
    [event] = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.materialization.metadata.items()}


def outbox() -> list[dict]:
    with store.engine().connect() as conn:
        found = [dict(r._mapping) for r in conn.execute(store.outbox.select().order_by(store.outbox.c.message_id))]
    for row in found:
        row["payload"] = json.loads(row["payload"])
    return found


def clear_values(warehouse) -> set[str]:
    """Every direct identifier the warehouse holds for its people (schema pii)."""
    values = set()
    for row in rows(warehouse, "select email, phone, first_name, last_name, social_handle from pii.person_contacts"):
        values |= {v for v in row if v and len(v) > 3}
    return values


def assert_no_clear_pii(messages: list[dict], warehouse) -> None:
    text = json.dumps([m["payload"] for m in messages])
    assert "@" not in text
    leaked = [v for v in clear_values(warehouse) if v in text]
    assert not leaked, f"{len(leaked)} clear identifiers in payloads"


def test_campaign_batch_is_held_then_released_once_without_pii_or_holdout(served):
    from orchestration.defs.campaign_exports import campaign_batch, campaign_release

    campaigns = definitions.campaigns()
    week = rows(served, "select week from marts.campaign_plan order by planned_for desc, week desc limit 1")[0][0]
    plan = rows(served, f"select campaign_id, person_id from marts.campaign_plan where week = '{week}' order by all")
    assert plan
    unsubscribed = plan[0][1]  # unsubscribes after planning: not enqueued
    store.suppress(unsubscribed, "email_marketing", "unsubscribed")
    consent = dict(rows(served, "select person_id, consent_email_marketing from marts.customer_360"))

    with dg.instance_for_test() as instance:
        metadata = materialize(campaign_batch, instance)
        held = store.batch(metadata["batch_id"])
        assert metadata["messages"] == len(held) > 0
        assert all(m["released_at"] is None for m in held)
        expected = {(c, p) for c, p in plan if p != unsubscribed}
        assert {(m["campaign_id"], m["person_id"]) for m in held} == expected  # consent was true at planning
        for m in held:
            assert m["idempotency_key"] == f"campaign:{m['campaign_id']}:{m['person_id']}:{week}"
            assert m["destination"] == "esp" and m["kind"] == "campaign" and consent[m["person_id"]]
            assert not in_holdout(m["person_id"], m["campaign_id"], campaigns[m["campaign_id"]]["holdout_share"])
            assert m["payload"]["esp_profile_id"] and m["payload"]["template"] == campaigns[m["campaign_id"]]["template"]
        assert_no_clear_pii(held, served)

        released = materialize(campaign_release, instance)
        assert released["batch_id"] == metadata["batch_id"] and released["released"] == len(held)
        assert all(m["released_at"] is not None for m in store.batch(metadata["batch_id"]))

        before = len(outbox())
        again = materialize(campaign_batch, instance)  # the same week once more
        assert again["messages"] == 0 and len(outbox()) == before
        keys = [m["idempotency_key"] for m in outbox()]
        assert len(keys) == len(set(keys))


def test_ad_audience_batch_carries_only_hashes_of_consenting_treated_members(served):
    from orchestration.defs.campaign_exports import ad_audience_batch, ad_audience_release

    audiences = definitions.audience_campaigns()
    assert audiences
    with duckdb.connect(str(served), read_only=True) as con:
        consent = dict(con.execute("select person_id, consent_ad_audiences from marts.customer_360").fetchall())
        contacts = {p: (e, ph) for p, e, ph in con.execute("select person_id, email, phone from pii.person_contacts").fetchall()}
        members = con.execute(
            "select campaign_id, segment_id, person_id, arm from marts.campaign_assignments where campaign_id in ("
            + ", ".join(f"'{c}'" for c in audiences) + ")").fetchall()  # fmt: skip

    with dg.instance_for_test() as instance:
        metadata = materialize(ad_audience_batch, instance)
        held = store.batch(metadata["batch_id"])
        assert metadata["messages"] == len(held) > 0
        expected = set()
        for campaign_id, segment_id, person_id, arm in members:
            email, phone = contacts.get(person_id, (None, None))
            if arm == "treatment" and consent.get(person_id) and (normalize_email(email) or normalize_phone(phone)):
                expected.add((campaign_id, person_id))
        assert {(m["campaign_id"], m["person_id"]) for m in held} == expected
        for m in held:
            assert m["released_at"] is None and m["destination"] == "ad_audience" and m["kind"] == "audience"
            payload = m["payload"]
            assert payload["audience"] == audiences[m["campaign_id"]]["segment_id"]
            assert m["idempotency_key"].startswith(f"audience:{payload['audience']}:{m['person_id']}:")
            email, phone = contacts[m["person_id"]]
            assert payload["email_sha256"] == sha256_hex(normalize_email(email))
            assert payload["phone_sha256"] == sha256_hex(normalize_phone(phone))
            assert all(h is None or HEX64.match(h) for h in (payload["email_sha256"], payload["phone_sha256"]))
            assert not in_holdout(m["person_id"], m["campaign_id"], audiences[m["campaign_id"]]["holdout_share"])
        assert_no_clear_pii(held, served)

        assert materialize(ad_audience_release, instance)["released"] == len(held)
        assert all(m["released_at"] is not None for m in store.batch(metadata["batch_id"]))
        assert materialize(ad_audience_batch, instance)["messages"] == 0


def test_normalisation_follows_customer_match():
    assert normalize_email("  Jane.Doe@Example.COM ") == "jane.doe@example.com"
    assert normalize_email("no address") is None
    assert normalize_phone("+49 155 765 3855") == "+491557653855"
    assert normalize_phone("0155 7653855") == "+491557653855"
    assert normalize_phone("0049 155 7653855") == "+491557653855"
    assert normalize_phone("0000000000") is None and normalize_phone("") is None
    assert sha256_hex(normalize_email(" Test@Example.com")) == "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"  # sha256 of test@example.com
