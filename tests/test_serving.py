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
    published = _read(target, "select table_schema, table_name, row_count, published_at from meta.publications order by 2")
    assert [(s, t, n) for s, t, n, _ in published] == [("marts", t.split(".")[1], n) for t, n in expected.items() if t.startswith("marts")]
    assert {at for *_, at in published} == {report.published_at}
    assert _read(report.pii_path, "select table_name, row_count from meta.publications") == [("contacts", 5)]
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


def test_journey_publish_serving(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from orchestration.cli import cli

    monkeypatch.setenv("JW_DATA_DIR", str(tmp_path))
    for var in ("JW_WAREHOUSE_PATH", "JW_SERVING_PATH", "JW_SERVING_POSTGRES_URL", "JW_PUBLISH_POSTGRES_URL"):
        monkeypatch.delenv(var, raising=False)
    outcome = CliRunner().invoke(cli, ["publish", "serving"])
    assert outcome.exit_code == 1 and f"no warehouse at {tmp_path / 'warehouse.duckdb'}" in outcome.output
    _small_warehouse(tmp_path / "warehouse.duckdb", rows=42)
    outcome = CliRunner().invoke(cli, ["publish", "serving"])
    assert outcome.exit_code == 0, outcome.output
    assert f"serving copy: {tmp_path / 'serving.duckdb'}: 3 marts, 84 rows in " in outcome.output  # 42 + 32 + 10
    assert f"pii: {tmp_path / 'serving_pii.duckdb'} (owner-only): 1 tables" in outcome.output
    assert "PostgreSQL" not in outcome.output
    assert _read(tmp_path / "serving.duckdb", "select count(*) from marts.events") == [(42,)]


@pytest.fixture()
def postgres_database():
    """A fresh PostgreSQL database of this test's own on the local server (bi_reader dropped if the test made it)."""
    import uuid

    import psycopg2

    admin = psycopg2.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    admin.autocommit = True
    name = f"jw_serving_{uuid.uuid4().hex[:8]}"
    with admin.cursor() as cursor:
        cursor.execute("select 1 from pg_roles where rolname = 'bi_reader'")
        role_existed = cursor.fetchone() is not None
        cursor.execute(f"create database {name}")
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    with admin.cursor() as cursor:
        cursor.execute(f"drop database if exists {name} with (force)")
        if not role_existed:
            cursor.execute("drop role if exists bi_reader")
    admin.close()


def test_the_serving_copy_asset_publishes_duckdb_and_postgres(tmp_path, monkeypatch, postgres_database):
    """The Dagster asset on its own: the DuckDB files and, with JW_SERVING_POSTGRES_URL set, PostgreSQL; its metadata."""
    import uuid

    import dagster as dg
    import psycopg2

    from orchestration.defs.serving import serving_copy

    _small_warehouse(tmp_path / "warehouse.duckdb", rows=30)
    monkeypatch.setenv("JW_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("JW_WAREHOUSE_PATH", raising=False)
    monkeypatch.delenv("JW_SERVING_PATH", raising=False)
    monkeypatch.delenv("JW_PUBLISH_POSTGRES_URL", raising=False)
    monkeypatch.setenv("JW_SERVING_POSTGRES_URL", postgres_database)
    monkeypatch.setenv("JW_BI_READER_PASSWORD", "bi-" + uuid.uuid4().hex[:12])
    result = dg.materialize([serving_copy], instance=dg.DagsterInstance.ephemeral())
    assert result.success
    (event,) = result.get_asset_materialization_events()
    metadata = {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}
    assert metadata["path"] == str(tmp_path / "serving.duckdb") and metadata["pii_path"] == str(tmp_path / "serving_pii.duckdb")
    assert (metadata["tables"], metadata["rows"], metadata["pii_tables"], metadata["pii_rows"]) == (3, 30 + 20 + 10, 1, 5)
    assert metadata["storage_version"] == "v1.0.0" and metadata["seconds"] > 0
    assert metadata["postgres"] == postgres_database and metadata["postgres_tables"] == 4
    assert "@example.com" not in repr(metadata)  # no personal data in metadata
    assert _read(tmp_path / "serving.duckdb", "select count(*) from marts.events") == [(30,)]
    with psycopg2.connect(postgres_database) as connection, connection.cursor() as cursor:
        cursor.execute("select count(*) from marts.events")
        assert cursor.fetchone()[0] == 30
        cursor.execute("select count(*) from pii.contacts")
        assert cursor.fetchone()[0] == 5
        cursor.execute("select has_table_privilege('bi_reader', 'marts.events', 'select'), "
                       "has_schema_privilege('bi_reader', 'pii', 'usage')")  # fmt: skip
        assert cursor.fetchone() == (True, False)


def test_publish_waits_out_a_writer_holding_the_warehouse(tmp_path):
    """A writer (another process) holds the warehouse: the read-only copy waits for it, then publishes."""
    import subprocess
    import sys
    import time

    warehouse = _small_warehouse(tmp_path / "warehouse.duckdb", rows=10)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(3)"
    ), str(warehouse)], stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        report = publish_serving(warehouse, tmp_path / "serving.duckdb", timeout=60)
        waited = time.monotonic() - started
    finally:
        holder.wait(timeout=30)
    assert report.tables["marts.events"] == 10
    assert waited > 1.0  # it did wait for the writer


# A BI tool polling the serving copy: connects read-only, reads what was published and counts a few marts, closes;
# prints what it saw (reads, failures with their first errors, the counts of each published version) at the end.
_READ_LOOP = r"""
import json, pathlib, sys, time
import duckdb
path, stop = sys.argv[1], pathlib.Path(sys.argv[2])
marts = ("customer_360", "journey_sessions", "touchpoints", "channel_daily", "events")
reads, failed, errors, versions = 0, 0, [], {}
while not stop.exists():
    try:
        with duckdb.connect(path, read_only=True) as con:
            catalog = con.execute("select current_database()").fetchone()[0]
            published, tables = con.execute(
                f'select max(published_at)::varchar, list(table_name) from "{catalog}".meta.publications').fetchone()
            counts = {t: con.execute(f'select count(*) from marts."{t}"').fetchone()[0] for t in marts if t in tables}
        reads += 1
        versions[published] = counts
    except Exception as error:
        failed += 1
        errors.append(f"{type(error).__name__}: {error}"[:300])
    time.sleep(0.02)
print(json.dumps({"reads": reads, "failed": failed, "errors": errors[:5], "versions": versions}))
"""


@pytest.fixture()
def fresh_data(tmp_path, monkeypatch, small_world):
    """A data folder with the small world's source systems and an empty warehouse, its own Dagster instance."""
    from ingestion.demo_world.writers import write_world

    data = tmp_path / "data"
    monkeypatch.setenv("JW_DATA_DIR", str(data))
    monkeypatch.setenv("DAGSTER_HOME", str(data / "dagster_home"))
    for var in ("JW_SERVING_PATH", "JW_SERVING_POSTGRES_URL", "JW_PUBLISH_POSTGRES_URL"):
        monkeypatch.delenv(var, raising=False)
    write_world(small_world, data / "source_systems")
    duckdb.connect(str(data / "warehouse.duckdb")).close()  # an empty warehouse a reader can open
    from orchestration.definitions import defs  # noqa: F401  (loaded before the readers start: they time the run only)
    from orchestration.instance import open_instance

    with open_instance():
        pass
    return data


def test_readers_during_a_full_build(fresh_data, tmp_path):
    """The whole graph is materialized (Dagster, in-process, as `journey run`) while
    - a BI tool polls the serving copy in a loop (another process): no read fails, and it sees the old copy, then
      the new one the build published;
    - another reader keeps a connection to the old serving file open all along: the publish is not blocked, and that
      reader still reads its old snapshot at the end;
    - a third reader holds the WAREHOUSE read-only when the run starts: the writers wait for it, no step fails."""
    import json
    import subprocess
    import sys
    import time

    from ingestion import config
    from orchestration.demo import run_pipeline, serving_lines
    from tests.test_warehouse_lock import events, logged, reader_holding

    serving = config.serving_path()
    assert serving.parent == fresh_data
    publish_serving(_small_warehouse(tmp_path / "seed.duckdb", rows=100), serving)
    old_reader = subprocess.Popen([sys.executable, "-c", _OLD_READER, str(serving)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)  # fmt: skip
    stop = tmp_path / "stop-reading"
    loop = subprocess.Popen([sys.executable, "-c", _READ_LOOP, str(serving), str(stop)], stdout=subprocess.PIPE, text=True)
    try:
        assert old_reader.stdout.readline().strip() == "100"
        started = time.monotonic()
        with reader_holding(config.warehouse_path(), until_logged="waiting for it") as released:
            result = run_pipeline()
        build_seconds = time.monotonic() - started
        time.sleep(1)  # a few reads of the new copy
    finally:
        stop.touch()
        out, _ = loop.communicate(timeout=120)
    reads = json.loads(out)
    failed_steps = events(result, "STEP_FAILURE")
    print(f"\nread loop during a full build of {build_seconds:.0f} s: {reads['reads']} reads, {reads['failed']} failed; "
          f"{len(failed_steps)} failed steps, {len(events(result, 'STEP_UP_FOR_RETRY'))} steps retried; "
          f"versions seen: {json.dumps(reads['versions'])}")  # fmt: skip

    assert released.is_set() and logged("waiting for it")  # the first writer waited for the warehouse's reader
    assert result.success and failed_steps == []
    assert "serving_copy" in events(result, "STEP_SUCCESS")
    assert reads["failed"] == 0, reads["errors"]
    assert reads["reads"] >= 20
    # the seeded copy, then the build's
    versions = reads["versions"]
    assert len(versions) == 2 and {"events": 100} in versions.values(), versions
    new = [counts for counts in versions.values() if "customer_360" in counts]
    assert len(new) == 1 and set(new[0]) == {"customer_360", "journey_sessions", "touchpoints", "channel_daily"}
    warehouse = config.warehouse_path()
    for mart, n in new[0].items():
        assert _read(warehouse, f"select count(*) from marts.{mart}") == [(n,)], mart
    assert new[0]["customer_360"] > 0 and new[0]["touchpoints"] > 0
    # the serving copy holds every mart with the warehouse's rows, pii apart
    published = dict(_read(serving, "select table_name, row_count from meta.publications"))
    assert published == {t: _read(warehouse, f'select count(*) from marts."{t}"')[0][0]
                         for (t,) in _read(warehouse, "select table_name from information_schema.tables where table_schema = 'marts'")}
    assert _read(config.serving_pii_path(), "select count(*) from pii.person_contacts")[0][0] > 0
    # what `journey run` and `journey demo` print about it
    (line,) = serving_lines()
    assert line.startswith(f"serving copy: {serving} ({len(published)} marts, {sum(published.values()):,} rows, published ")
    # the reader of the old file still reads its snapshot
    old_reader.stdin.write("\n")
    old_reader.stdin.flush()
    assert old_reader.stdout.readline().strip() == "100"
    assert old_reader.wait(timeout=30) == 0
