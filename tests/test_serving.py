"""The serving copy (orchestration/serving.py): what it holds, its file format and mode, the atomic swap, and
readers during builds."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import duckdb
import pytest

from orchestration.serving import STORAGE_VERSION, ServingError, publish_serving


def _small_warehouse(path: Path, rows: int = 1000) -> Path:
    """A warehouse with the shapes marts have: tables of many types, views over other schemas, a pii schema."""
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists staging; create schema if not exists marts; create schema if not exists pii")
        con.execute(f"""
            create or replace table staging.events as
            select range as id, timestamptz '2026-01-01 00:00:00+00' + to_minutes(range) as seen_at,
                   [range, range + 1] as pair, {{'n': range}} as nested, (range / 7)::decimal(12, 2) as amount,
                   'person ' || range as label
            from range({rows})""")
        con.execute("create or replace table marts.events as select * from staging.events")
        con.execute("create or replace view marts.recent as select id, seen_at from staging.events where id >= 10")
        con.execute("create or replace view marts.recent_small as select id from recent where id < 20")  # a view over a view
        con.execute("create or replace table pii.contacts as select id, 'p' || id || '@example.com' as email from range(5) t(id)")
    return path


def _read(path: Path, sql: str):
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_publish_copies_marts_and_pii_apart(tmp_path):
    warehouse = _small_warehouse(tmp_path / "warehouse.duckdb")
    target = tmp_path / "out" / "serving.duckdb"
    report = publish_serving(warehouse, target)

    expected = {"marts.events": 1000, "marts.recent": 990, "marts.recent_small": 10, "pii.contacts": 5}
    assert report.tables == expected
    assert report.path == target and report.pii_path == target.with_name("serving_pii.duckdb")
    # every relation became a table with the warehouse's rows and types
    assert _read(target, "select table_name, table_type from information_schema.tables where table_schema = 'marts' order by 1") == [
        ("events", "BASE TABLE"), ("recent", "BASE TABLE"), ("recent_small", "BASE TABLE")]
    assert _read(target, "select * from marts.events order by id") == _read(warehouse, "select * from marts.events order by id")
    assert _read(target, "select data_type from information_schema.columns where table_name = 'events' and column_name = 'seen_at'") == [
        ("TIMESTAMP WITH TIME ZONE",)]
    # the marts file has no pii, the pii file no marts
    assert _read(target, "select count(*) from information_schema.schemata where schema_name = 'pii'") == [(0,)]
    assert _read(report.pii_path, "select count(*) from information_schema.tables where table_schema = 'marts'") == [(0,)]
    assert _read(report.pii_path, "select count(*) from pii.contacts") == [(5,)]
    # publications: one row per table, in each file, with the time of the publish
    published = _read(target, "select table_schema, table_name, row_count, published_at from serving.serving.publications order by 2")
    assert [(s, t, n) for s, t, n, _ in published] == [("marts", t.split(".")[1], n) for t, n in expected.items() if t.startswith("marts")]
    assert {at for *_, at in published} == {report.published_at}
    assert _read(report.pii_path, "select table_name, row_count from serving.publications") == [("contacts", 5)]
    # older storage format, checkpointed (no WAL), pii owner-only, no scratch folder left
    assert _read(target, "select tags['storage_version'] from duckdb_databases() where database_name = 'serving'") == [("v1.0.0+",)]
    assert STORAGE_VERSION == "v1.0.0"
    assert sorted(p.name for p in target.parent.iterdir()) == ["serving.duckdb", "serving_pii.duckdb"]
    assert stat.S_IMODE(os.stat(report.pii_path).st_mode) == 0o600
    assert report.rows == sum(expected.values()) and report.bytes == target.stat().st_size


def test_publish_needs_marts(tmp_path):
    with pytest.raises(ServingError, match="no warehouse"):
        publish_serving(tmp_path / "none.duckdb", tmp_path / "serving.duckdb")
    duckdb.connect(str(tmp_path / "empty.duckdb")).close()
    with pytest.raises(ServingError, match="no schema marts"):
        publish_serving(tmp_path / "empty.duckdb", tmp_path / "serving.duckdb")
    assert not (tmp_path / "serving.duckdb").exists()


_OLD_READER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
count = lambda: con.execute("select count(*) from marts.events").fetchone()[0]
print(count(), flush=True)
sys.stdin.readline()  # the test publishes meanwhile
print(count(), flush=True)
"""


def test_reader_of_the_old_copy_does_not_block_the_next_publish(tmp_path):
    """A reader (another process) keeps a connection to the published file open; the next publish swaps a new file
    in anyway, the reader goes on reading its old snapshot, and a new connection sees the new one."""
    import subprocess
    import sys

    warehouse = _small_warehouse(tmp_path / "warehouse.duckdb", rows=100)
    target = tmp_path / "serving.duckdb"
    publish_serving(warehouse, target)
    reader = subprocess.Popen([sys.executable, "-c", _OLD_READER, str(target)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "100"
        _small_warehouse(warehouse, rows=250)
        report = publish_serving(warehouse, target, timeout=5)
        assert report.tables["marts.events"] == 250
        assert _read(target, "select count(*) from marts.events") == [(250,)]
        reader.stdin.write("\n")
        reader.stdin.flush()
        assert reader.stdout.readline().strip() == "100"  # its old snapshot, still readable
        assert reader.wait(timeout=30) == 0
    finally:
        reader.kill()
    assert not target.with_name("serving.duckdb.wal").exists()
