"""Retention of raw events (ingestion.retention, the Dagster asset raw_retention) on a copy of the small world's raw
warehouse: with a retention that cuts the world's window in two, the old rows of every event table go (and their
copies in dlt's merge staging), the recent ones stay untouched, the other tables are untouched, the asset reports
the counts, and every model still builds."""

from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg
import duckdb
import pytest

from ingestion.retention import DEFAULT_RETENTION_DAYS, EVENT_TABLES, apply_retention, retention_days

from .conftest import copy_warehouse, dbt, rows

KEYS = {("shop", "events"): "event_id", ("esp", "events"): "id", ("social", "interactions"): "id",
        ("iot", "readings"): "reading_id"}  # fmt: skip


def table_counts(warehouse) -> dict[str, int]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables where table_type = 'BASE TABLE'"
        ).fetchall()
        return {f"{s}.{t}": con.execute(f'select count(*) from "{s}"."{t}"').fetchone()[0] for s, t in tables}


def test_retention_days_come_from_the_environment(monkeypatch):
    monkeypatch.delenv("JW_RETENTION_DAYS", raising=False)
    assert retention_days() == DEFAULT_RETENTION_DAYS == 1095
    monkeypatch.setenv("JW_RETENTION_DAYS", "30")
    assert retention_days() == 30
    for bad in ("thirty", "0", "-5", "1.5"):
        monkeypatch.setenv("JW_RETENTION_DAYS", bad)
        with pytest.raises(ValueError, match="JW_RETENTION_DAYS"):
            retention_days()


def test_the_default_retention_keeps_the_whole_demo_window(small_build, tmp_path):
    warehouse = copy_warehouse(small_build.raw, tmp_path)
    before = table_counts(warehouse)
    result = apply_retention(warehouse, days=DEFAULT_RETENTION_DAYS)
    assert result.total == 0 and set(result.deleted) == {f"{s}.{t}" for s, t in EVENT_TABLES}
    assert table_counts(warehouse) == before


def test_old_raw_events_go_recent_ones_stay_and_the_models_still_build(small_build, tmp_path, monkeypatch):
    from orchestration.defs.retention import raw_retention

    warehouse = copy_warehouse(small_build.built, tmp_path)  # raw and every model, as a warehouse is when retention runs
    now = datetime.now(timezone.utc)
    # a retention that cuts the window in two: the median event time of the readings, in whole days before now
    (median,) = rows(warehouse, "select median(recorded_at) from iot.readings")[0]
    days = (now - median).days
    before_counts = table_counts(warehouse)
    before = {
        (s, t): rows(warehouse, f"select {KEYS[s, t]}, {c} from {s}.{t}") for (s, t), c in EVENT_TABLES.items()
    }
    staged = {
        (s, t): rows(warehouse, f"select count(*) from information_schema.tables where table_schema = '_dlt_staging_{s}' and table_name = '{t}'")[0][0]
        for s, t in EVENT_TABLES
    }  # fmt: skip

    monkeypatch.setenv("JW_WAREHOUSE_PATH", str(warehouse))
    monkeypatch.setenv("JW_RETENTION_DAYS", str(days))
    result = dg.materialize([raw_retention])
    assert result.success
    (materialization,) = result.asset_materializations_for_node("raw_retention")
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    cutoff = datetime.fromtimestamp(metadata["cutoff"], timezone.utc)
    assert metadata["retention_days"] == days
    assert abs((now - cutoff).total_seconds() - days * 86400) < 600

    after_counts = table_counts(warehouse)
    total = 0
    for (schema, table), column in EVENT_TABLES.items():
        old = {key for key, at in before[schema, table] if at < cutoff}
        recent = {key for key, at in before[schema, table] if at >= cutoff}
        assert old and recent, f"{schema}.{table}: the cut-off should fall inside the window"
        kept = {key for (key,) in rows(warehouse, f"select {KEYS[schema, table]} from {schema}.{table}")}
        assert kept == recent  # every old row gone, every recent one still there
        assert metadata[f"rows_deleted/{schema}.{table}"] == len(old)
        total += len(old)
        assert rows(warehouse, f"select count(*) from {schema}.{table} where {column} < '{cutoff.isoformat()}'") == [(0,)]
        if staged[schema, table]:
            stage = f"_dlt_staging_{schema}.{table}"
            assert rows(warehouse, f"select count(*) from {stage} where {column} < '{cutoff.isoformat()}'") == [(0,)]
            assert metadata[f"staging_rows_deleted/{stage}"] == before_counts[stage] - after_counts[stage]
    assert metadata["rows_deleted"] == total
    # nothing else changed: the other tables keep every row (the quarantines, orders, registries, dlt's own)
    trimmed = {f"{s}.{t}" for s, t in EVENT_TABLES} | {f"_dlt_staging_{s}.{t}" for s, t in EVENT_TABLES}
    assert {k: n for k, n in after_counts.items() if k not in trimmed} == {
        k: n for k, n in before_counts.items() if k not in trimmed
    }

    # a second run deletes nothing more
    again = dg.materialize([raw_retention])
    assert again.asset_materializations_for_node("raw_retention")[0].metadata["rows_deleted"].value == 0

    # the models still build on what is left: every model that reads a retained table, rebuilt from scratch, and
    # their data tests (the other models read nothing retention touched: small_build built and tested them)
    retained = [f"source:{schema}.{table}+" for schema, table in EVENT_TABLES]
    results = dbt(warehouse, tmp_path, "build", "--select", *retained, "--full-refresh", "--exclude-resource-type", "unit_test")
    assert {r["unique_id"].split(".")[0] for r in results.values()} == {"model", "test"}
    assert {r["status"] for r in results.values()} <= {"success", "pass", "warn"}
    assert rows(warehouse, f"select count(*) from staging.stg_iot__readings where recorded_at < '{cutoff.isoformat()}'") == [(0,)]
    assert rows(warehouse, "select count(*) from marts.device_daily_features")[0][0] > 0
