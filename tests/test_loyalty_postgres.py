"""The loyalty/POS source against a real PostgreSQL server (127.0.0.1; `.ci/run` starts it if it is down)."""

import os
import uuid

import pytest
import sqlalchemy as sa

from ingestion import pipelines
from ingestion.demo_world.writers import write_loyalty_db

from .conftest import count, loaded_rows

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

    load()
    for table, rows in small_world.loyalty.items():
        assert count(warehouse, f"loyalty.{table}") == len(rows), table
    assert count(warehouse, "loyalty.receipts", "card_number is null") == sum(
        r["card_number"] is None for r in small_world.loyalty["receipts"]
    )

    assert load() == {}

    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f'insert into "{loyalty_schema}".receipts (receipt_id, card_number, store_id, total_amount, purchased_at, updated_at) '
                "values ('R9999999', null, 'store-01', 12.50, '2030-01-01', '2030-01-01')"
            )
        )
    engine.dispose()
    assert load() == {"receipts": 1}
    assert count(warehouse, "loyalty.receipts") == len(small_world.loyalty["receipts"]) + 1
