"""The loyalty/POS source against a real PostgreSQL server (127.0.0.1; `.ci/run` starts it if it is down)."""

import os
import uuid

import duckdb
import pytest
import sqlalchemy as sa

from ingestion import pipelines
from ingestion.demo_world.writers import sync_late_tills, write_loyalty_db

from .conftest import count, loaded_rows
from .test_loyalty import assert_raw_matches_source, raw_rows, rows_in_lag_window, source_rows

POSTGRES_URL = os.environ.get("JW_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


@pytest.fixture()
def loyalty_schema(small_world):
    schema = f"jw_loyalty_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(POSTGRES_URL)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL} (start it, or run .ci/run): {exc.orig}")
    write_loyalty_db(small_world, POSTGRES_URL, schema=schema)
    yield schema
    with engine.begin() as conn:
        conn.execute(sa.text(f'drop schema "{schema}" cascade'))
    engine.dispose()


def test_loyalty_loads_from_postgres_exactly_and_incrementally(loyalty_schema, small_world, tmp_path, monkeypatch):
    monkeypatch.setenv("JW_LOYALTY_DB_URL", POSTGRES_URL)
    monkeypatch.setenv("JW_LOYALTY_DB_SCHEMA", loyalty_schema)
    for name in ("SHOP", "ESP", "SOCIAL"):  # not used by this source
        monkeypatch.setenv(f"JW_{name}_API_URL", "http://127.0.0.1:9")
    warehouse = tmp_path / "warehouse.duckdb"

    def load():
        with pipelines.source_endpoints(tmp_path) as endpoints:
            assert endpoints.loyalty_url == POSTGRES_URL
            info = pipelines.load("loyalty", endpoints, warehouse=warehouse, pipelines_dir=tmp_path / "dlt")
        assert not info.has_failed_jobs
        return loaded_rows(info)

    def sql(*statements):
        engine = sa.create_engine(POSTGRES_URL)
        with engine.begin() as conn:
            conn.execute(sa.text(f'set search_path to "{loyalty_schema}"'))
            for statement in statements:
                conn.execute(sa.text(statement))
        engine.dispose()

    load()
    for table, rows in small_world.loyalty.items():
        assert count(warehouse, f"loyalty.{table}") == len(rows), table
    assert count(warehouse, "loyalty.receipts", "card_number is null") == sum(
        r["card_number"] is None for r in small_world.loyalty["receipts"]
    )
    assert_raw_matches_source(warehouse, POSTGRES_URL, loyalty_schema)

    # a reload reads the lag window again and changes nothing
    assert load() == rows_in_lag_window(small_world.loyalty)
    assert_raw_matches_source(warehouse, POSTGRES_URL, loyalty_schema)

    # late tills (dated before the cursor, within the window), a future-dated row, deletes (the FKs hold:
    # a member goes with points, receipts and cards; a card without receipts and a single receipt on their own)
    late = sync_late_tills(small_world, POSTGRES_URL, schema=loyalty_schema)
    loyalty = small_world.loyalty
    member = next(m["member_id"] for m in loyalty["members"]
                  if any(c["member_id"] == m["member_id"] for c in loyalty["cards"])
                  and any(p["member_id"] == m["member_id"] for p in loyalty["points"]))
    used_cards = {r["card_number"] for r in loyalty["receipts"] + small_world.loyalty_late["receipts"]}
    lone_card = next(c["card_number"] for c in loyalty["cards"] if c["card_number"] not in used_cards and c["member_id"] != member)
    unpointed = {p["receipt_id"] for p in loyalty["points"]}
    lone_receipt = next(r["receipt_id"] for r in loyalty["receipts"] if r["receipt_id"] not in unpointed)
    sql(
        f"delete from points where member_id = '{member}' or receipt_id in "
        f"(select receipt_id from receipts where card_number in (select card_number from cards where member_id = '{member}'))",
        f"delete from receipts where card_number in (select card_number from cards where member_id = '{member}')",
        f"delete from cards where member_id = '{member}'",
        f"delete from consents where member_id = '{member}'",
        f"delete from members where member_id = '{member}'",
        f"delete from cards where card_number = '{lone_card}'",
        f"delete from receipts where receipt_id = '{lone_receipt}'",
        "update members set last_name = 'Future', updated_at = '2099-01-01' where member_id = "
        f"(select min(member_id) from members where member_id <> '{member}')",
    )
    loaded = load()
    member_cards = {c["card_number"] for c in loyalty["cards"] if c["member_id"] == member}
    deleted_receipts = 1 + sum(r["card_number"] in member_cards for r in loyalty["receipts"])  # those in raw
    # rows read: the window, the late tills, and one delete marker per deleted receipt
    assert loaded["receipts"] == rows_in_lag_window(loyalty)["receipts"] + late["receipts"] + deleted_receipts
    assert count(warehouse, "loyalty.members", f"member_id = '{member}'") == 0
    assert count(warehouse, "loyalty.members", "last_name = 'Future'") == 0
    assert count(warehouse, "loyalty.members__quarantine") == 1
    members = count(warehouse, "loyalty.members")
    assert members == len(loyalty["members"]) - 1
    # raw holds exactly what PostgreSQL holds, except the future-dated change (its old version stays)
    for table in ("cards", "receipts", "points", "consents"):
        assert raw_rows(warehouse, table) == source_rows(POSTGRES_URL, table, loyalty_schema), table
    assert len(source_rows(POSTGRES_URL, "members", loyalty_schema) - raw_rows(warehouse, "members")) == 1

    # a new receipt, then a change at the cursor that keeps its updated_at, with no lag window at all
    sql(
        "insert into receipts (receipt_id, card_number, store_id, total_amount, purchased_at, updated_at) "
        "values ('R9999999', null, 'store-01', 12.50, '2026-10-15', '2026-10-15')"
    )
    receipts = count(warehouse, "loyalty.receipts")
    load()
    assert count(warehouse, "loyalty.receipts") == receipts + 1
    monkeypatch.setenv("SOURCES__LOYALTY__LAG_SECONDS", "0")
    sql("update receipts set total_amount = 13.75 where receipt_id = 'R9999999'")
    load()
    assert count(warehouse, "loyalty.receipts", "receipt_id = 'R9999999' and total_amount = 13.75") == 1

    # a new column is accepted with the type the database declares, and keeps it when the database changes it
    monkeypatch.delenv("SOURCES__LOYALTY__LAG_SECONDS")
    sql("alter table cards add column visits integer", "update cards set visits = 3, updated_at = '2026-10-16' "
        "where card_number = (select min(card_number) from cards)")
    load()
    sql("alter table cards alter column visits type varchar(8)",
        "update cards set visits = '7', updated_at = '2026-10-17' where card_number = (select min(card_number) from cards)",
        "update cards set visits = 'many', updated_at = '2026-10-17' where card_number = (select max(card_number) from cards)")
    load()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        kinds = dict(con.execute("select column_name, column_type from (describe loyalty.cards)").fetchall())
        visits = con.execute("select visits from loyalty.cards where visits is not null").fetchall()
        reasons = con.execute("select reason from loyalty.cards__quarantine").fetchall()
    assert kinds["visits"] == "BIGINT" and not any("__v_" in c for c in kinds)
    assert visits == [(7,)]
    assert reasons == [("visits: expected bigint",)]
