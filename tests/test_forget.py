"""``journey forget``: a person erased from every layer stays erased after the next ingestion.

On a copy of the small world's build (raw + dbt + dlt's working folders): forget a person who has records in
the shop, the ESP, the loyalty POS and a device, byte-search every file under the data folder (source systems
excepted) for the address and its normalised form, touch the person's loyalty row in the source system so the
next incremental load sends it again, load all six sources and rebuild, search again, read the audit row.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import duckdb
import pytest

from tests.conftest import copy_warehouse, rows


def byte_hits(root: Path, needles: list[str]) -> list[tuple[str, str]]:
    """(file, needle) for every file under ``root`` but ``source_systems/`` containing a needle (any case)."""
    hits = []
    lowered = [n.lower().encode() for n in needles]
    for path in sorted(root.rglob("*")):
        if not path.is_file() or "source_systems" in path.relative_to(root).parts:
            continue
        data = path.read_bytes().lower()
        hits += [(str(path.relative_to(root)), n.decode()) for n in lowered if n in data]
    return hits


def sql_hits(warehouse: Path, needles: list[str]) -> list[tuple[str, str]]:
    """(relation.column, needle) for every text column of every table or view holding a needle (any case)."""
    hits = []
    with duckdb.connect(str(warehouse), read_only=True) as con:
        columns = con.execute(
            "select table_catalog, table_schema, table_name, column_name from information_schema.columns "
            "where data_type in ('VARCHAR', 'JSON') or data_type like '%[]' or data_type like 'STRUCT%'"
        ).fetchall()
        for catalog, schema, table, column in columns:
            for needle in needles:
                n = con.execute(f'select count(*) from "{catalog}"."{schema}"."{table}" '
                                f'where contains(lower(cast("{column}" as varchar)), ?)', [needle.lower()]).fetchone()[0]  # fmt: skip
                if n:
                    hits.append((f"{schema}.{table}.{column}", needle))
    return hits


@pytest.fixture()
def data(small_build, tmp_path, monkeypatch) -> Path:
    """A data folder of its own: the small build's warehouse, dlt folders and source systems."""
    root = tmp_path / "data"
    monkeypatch.setenv("JW_DATA_DIR", str(root))
    monkeypatch.setenv("DAGSTER_HOME", str(root / "dagster_home"))
    monkeypatch.delenv("JW_WAREHOUSE_PATH", raising=False)
    copy_warehouse(small_build.built, root)
    shutil.copytree(small_build.pipelines_dir, root / "dlt_pipelines")
    shutil.copytree(small_build.systems, root / "source_systems")
    return root


def test_forget_then_reingest_keeps_the_person_out(data):
    from ingestion import config, pipelines
    from orchestration.forget import forget
    from orchestration.lib.dbt import run_dbt

    warehouse = data / "warehouse.duckdb"
    # a person the graph knows from the shop, the ESP, the loyalty POS and a device
    person_id, email, member_id, shop_id, device_id = rows(warehouse, """
        select person_id,
               max(identifier_value) filter (where identifier_type = 'esp_contact'),
               max(identifier_value) filter (where identifier_type = 'loyalty_member'),
               max(identifier_value) filter (where identifier_type = 'shop_customer'),
               max(identifier_value) filter (where identifier_type = 'iot_device')
        from pii.person_identifiers
        group by person_id
        having count(distinct identifier_type) filter (
            where identifier_type in ('esp_contact', 'loyalty_member', 'shop_customer', 'iot_device')) = 4
        order by person_id limit 1""")[0]  # fmt: skip
    other_member = rows(warehouse, f"select min(member_id) from loyalty.members where member_id <> '{member_id}'")[0][0]
    loyalty_db = data / "source_systems" / "loyalty.sqlite"
    with sqlite3.connect(loyalty_db) as db:
        (raw_email,) = db.execute("select email from members where member_id = ?", [member_id]).fetchone()
    needles = sorted({email, email.strip(), raw_email.strip(), email.upper()})
    assert byte_hits(data, [email]) or sql_hits(warehouse, [email]), "the person should be in the warehouse first"

    # the serving copies as the last build published them hold the person (pii: contacts; marts: their person_id)
    from orchestration.serving import publish_serving

    serving = publish_serving()
    assert sql_hits(serving.pii_path, [email]) and sql_hits(serving.path, [person_id])

    # the activation store knows them too: a checkout webhook (its body names the e-mail), an ESP unsubscribe, a
    # message waiting in the outbox; and another person's rows, which stay
    from activation import store

    (esp_profile,) = rows(warehouse, f"select min(id) from esp.profiles where lower(trim(email)) = '{email.lower()}'")[0]
    assert esp_profile
    store.append_webhook({"webhook_id": "forget-1", "source": "shop", "topic": "checkouts/update", "subject_id": "chk-f",
                          "customer_ref": str(shop_id), "payload": {"token": "chk-f", "email": email}})  # fmt: skip
    store.append_webhook({"webhook_id": "forget-2", "source": "esp", "topic": "profile.unsubscribed",
                          "subject_id": esp_profile, "customer_ref": esp_profile, "payload": {"profile_id": esp_profile}})  # fmt: skip
    store.append_webhook({"webhook_id": "forget-3", "source": "shop", "topic": "checkouts/update", "subject_id": "chk-o",
                          "customer_ref": "-1", "payload": {"token": "chk-o", "email": "someone.else@example.test"}})  # fmt: skip
    for who, key in ((person_id, "cart_abandonment:chk-f"), ("person_someone_else", "cart_abandonment:chk-o")):
        store.enqueue([{"idempotency_key": key, "destination": "esp", "kind": "cart_abandonment", "person_id": who,
                        "campaign_id": "cart_abandonment", "batch_id": "b1", "payload": {"esp_profile_id": "x"}}])  # fmt: skip
    store.release("b1")

    result = forget(email=f"  {email.upper()} ", requested_by="test-dpo")

    assert store.suppressed([person_id], "email_marketing") == {person_id}  # erased: nothing more is sent to them
    assert [m["idempotency_key"] for m in store.batch("b1")] == ["cart_abandonment:chk-o"]
    assert [w["webhook_id"] for w in store.webhooks_after(0)] == ["forget-3"]
    assert result.removed["exports.outbox"] == 1 and result.removed["inbox.webhook_events"] == 2

    assert result.person_ids == 1
    assert result.serving == str(serving.path) and "republish" in result.step_seconds  # published again, without them
    assert sql_hits(serving.pii_path, [email, *needles]) == [] and sql_hits(serving.path, [email, person_id]) == []
    assert rows(serving.path, "select min(published_at) from meta.publications")[0][0] > serving.published_at
    for table in ("shop.customers", "esp.profiles", "loyalty.members", "loyalty.cards", "iot.devices"):
        assert result.removed.get(table, 0) >= 1, (table, result.removed)
    assert byte_hits(data, needles) == []
    ids = [person_id, member_id, device_id]
    assert sql_hits(warehouse, [email, *ids]) == []
    assert rows(warehouse, f"select count(*) from shop.customers where id = {shop_id}") == [(0,)]
    suppression = json.loads((data / "suppression.json").read_text())
    assert email not in json.dumps(suppression) and {"email", "loyalty_member", "shop_customer"} <= set(suppression["hashes"])

    # the source systems change the person's loyalty row and another member's: the next load reads both again
    with sqlite3.connect(loyalty_db) as db:
        db.execute("update members set updated_at = '2026-11-30 00:00:00', city = 'Touched' where member_id in (?, ?)",
                   [member_id, other_member])  # fmt: skip
    with pipelines.source_endpoints(data / "source_systems") as endpoints:
        for name in config.SOURCE_NAMES:
            info = pipelines.load(name, endpoints)
            assert not info.has_failed_jobs, name
    assert rows(warehouse, f"select city from loyalty.members where member_id = '{other_member}'") == [("Touched",)]
    assert rows(warehouse, f"select count(*) from loyalty.members where member_id = '{member_id}'") == [(0,)]
    done = run_dbt(["run"], warehouse, data.parent / "dbt_target", log_dir=data.parent / "dbt_logs")
    assert done.returncode == 0, done.stdout[-3000:]
    assert sql_hits(warehouse, [email, *ids]) == []
    assert byte_hits(data, needles) == []

    (audit,) = rows(warehouse, "select request_id, requested_by, requested_at, person_hash, removed, seconds "
                               "from audit.erasure_log")  # fmt: skip
    assert audit[0] == result.request_id and audit[1] == "test-dpo" and audit[5] > 0
    removed = json.loads(audit[4])
    assert removed["rows"]["loyalty.members"] == 1 and removed["identifiers"] == result.identifiers
    assert not any(n.lower() in json.dumps(audit, default=str).lower() for n in [email, person_id, member_id])


def test_forget_needs_exactly_one_selector():
    from click.testing import CliRunner

    from orchestration.cli import cli

    for args in ([], ["--email", "a@b.test", "--person-id", "person_x"]):
        outcome = CliRunner().invoke(cli, ["forget", *args])
        assert outcome.exit_code == 2 and "exactly one of --email and --person-id" in outcome.output
