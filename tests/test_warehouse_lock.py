"""A reader holding the warehouse (a read-only DuckDB connection in another process) makes its writers wait
and retry with backoff: the run succeeds with no failed step. In-process (`execute_in_process`), as tests and
`journey run` execute the graph."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from orchestration.lib import warehouse_lock

RELEASE_TIMEOUT = 300  # seconds; on a loaded two-core machine the first writer can take minutes to start


@contextmanager
def reader_holding(warehouse: Path, seconds: float | None = None, until_logged: str | None = None):
    """Another process holds a read-only connection to ``warehouse`` from when this returns, for ``seconds`` or
    until a run started later in the instance in $DAGSTER_HOME logs ``until_logged`` (at most RELEASE_TIMEOUT)."""
    before = run_ids()
    holder = subprocess.Popen(
        [sys.executable, "-c", (
            "import duckdb, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
            "print('held', flush=True); sys.stdin.read()"
        ), str(warehouse)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    released = threading.Event()

    def release():
        deadline = time.monotonic() + (seconds or RELEASE_TIMEOUT)
        while time.monotonic() < deadline and not (until_logged and logged(until_logged, before)):
            time.sleep(0.2)
        holder.stdin.close()  # the holder reads to EOF, then exits and lets go
        holder.wait()
        released.set()

    thread = threading.Thread(target=release, daemon=True)
    thread.start()
    try:
        yield released
    finally:
        thread.join()


def run_ids() -> set[str]:
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        return {run.run_id for run in instance.get_runs()}


def logged(text: str, except_runs: set[str] = frozenset()) -> bool:
    """Whether a run of the instance (other than ``except_runs``) has logged ``text``."""
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        return any(
            text in (e.user_message or "")
            for run in instance.get_runs()
            if run.run_id not in except_runs
            for e in instance.all_logs(run.run_id)
        )


def locked(warehouse: Path) -> bool:
    try:
        duckdb.connect(str(warehouse)).close()
        return False
    except duckdb.IOException as error:
        assert warehouse_lock.is_lock_conflict(error)
        return True


def events(result, kind: str) -> list[str]:
    return [e.step_key for e in result.all_events if e.event_type_value == kind]


@pytest.fixture()
def fresh_data(tmp_path, monkeypatch, small_world):
    from ingestion.demo_world.writers import write_world

    data = tmp_path / "data"
    monkeypatch.setenv("JW_DATA_DIR", str(data))
    monkeypatch.setenv("DAGSTER_HOME", str(data / "dagster_home"))
    write_world(small_world, data / "source_systems")
    warehouse = data / "warehouse.duckdb"
    duckdb.connect(str(warehouse)).close()  # an empty warehouse a reader can open
    from orchestration.definitions import defs  # noqa: F401  (imported and
    from orchestration.instance import open_instance

    with open_instance():  # created now: the readers' hold times the run only)
        pass
    return warehouse


def test_waiting_for_the_lock_returns_once_the_reader_is_gone(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    duckdb.connect(str(warehouse)).close()
    with reader_holding(warehouse, 2):
        assert locked(warehouse)
        waited = warehouse_lock.wait_until_writable(warehouse)
    assert 1.0 < waited < 15
    assert not locked(warehouse)
    with reader_holding(warehouse, 8):
        assert warehouse_lock.wait_until_writable(warehouse, timeout=1) < 5  # gives up: the step's retry takes over


def test_a_reader_holding_the_warehouse_is_retried_not_failed(fresh_data, monkeypatch):
    """No waiting before the steps: each writer meets the lock itself, and Dagster retries the step."""
    from orchestration.defs.transformation import journey_dbt_models
    from orchestration.demo import run_pipeline

    from orchestration.defs.ingestion import ingest_esp

    monkeypatch.setattr(warehouse_lock, "WAIT_TIMEOUT_SECONDS", 0)
    # a writer of raw (the ESP's load) and dbt after it, on the ESP's staging models: what they read is all loaded
    # (the rest of the graph meets no lock once the reader is gone; test_pipeline.py runs all of it)
    esp_staging = [k for k in journey_dbt_models.keys if k.path[-1].startswith("stg_esp__")]
    assert len(esp_staging) >= 3
    with reader_holding(fresh_data, until_logged="retrying the step") as released:
        result = run_pipeline(asset_selection=[*ingest_esp.keys, *esp_staging])
    assert released.is_set()
    assert result.success and events(result, "STEP_FAILURE") == []
    assert "ingest_esp" in events(result, "STEP_UP_FOR_RETRY")  # the first writer met the lock and was retried
    assert events(result, "STEP_SUCCESS").count("journey_dbt_models") == 1

    # dbt meets the lock too (reported in its own log): same retry. dbt opens the warehouse before any model, so
    # a few models show it as well as all of them
    with reader_holding(fresh_data, until_logged="retrying the step"):
        result = run_pipeline(asset_selection=esp_staging)
    assert result.success and events(result, "STEP_FAILURE") == []
    assert events(result, "STEP_UP_FOR_RETRY") and set(events(result, "STEP_UP_FOR_RETRY")) == {"journey_dbt_models"}


def test_a_reader_holding_the_warehouse_makes_the_run_wait(fresh_data):
    """With the default wait, the writer waits for the reader before it starts: no retry needed."""
    from orchestration.defs.ingestion import ingest_esp
    from orchestration.demo import run_pipeline

    with reader_holding(fresh_data, until_logged="waiting for it") as released:
        result = run_pipeline(asset_selection=list(ingest_esp.keys))
    assert released.is_set()
    assert result.success and events(result, "STEP_FAILURE") == [] and events(result, "STEP_UP_FOR_RETRY") == []
    assert logged("waiting for it")  # it did wait for the reader (before the first writer: ingest_esp)
    assert result.all_events and not locked(fresh_data)


def test_connecting_for_writing_outside_dagster_waits_out_a_reader(tmp_path):
    """`journey forget` opens the warehouse with ``connect_writable`` and retries its rewrite with
    ``retry_lock_conflicts``: a reader that slipped in is waited out, any other error is raised at once."""
    warehouse = tmp_path / "w.duckdb"
    duckdb.connect(str(warehouse)).close()
    with reader_holding(warehouse, 2):
        assert locked(warehouse)
        started = time.monotonic()
        con = warehouse_lock.connect_writable(warehouse)
        waited = time.monotonic() - started
        con.execute("create table t as select 1 as x")
        con.close()
    assert 1.0 < waited < 15
    with reader_holding(warehouse, 4):
        with pytest.raises(duckdb.IOException, match="Could not set lock"):
            warehouse_lock.connect_writable(warehouse, timeout=0.5)  # gives up after its timeout

    calls = []

    def rewrite():
        calls.append(time.monotonic())
        return duckdb.connect(str(warehouse)).close() or "rewritten"

    with reader_holding(warehouse, 2):
        assert warehouse_lock.retry_lock_conflicts(rewrite) == "rewritten"
    assert len(calls) >= 2 and calls[-1] - calls[0] > 1.0

    def broken():
        calls.append(0)
        raise ValueError("not a lock conflict")

    calls.clear()
    with pytest.raises(ValueError):
        warehouse_lock.retry_lock_conflicts(broken)
    assert calls == [0]


def test_a_reader_holding_the_warehouse_makes_retention_wait(fresh_data):
    """The retention asset (daily schedule) waits for a reader too, and succeeds."""
    import dagster as dg

    from orchestration.demo import run_pipeline

    with reader_holding(fresh_data, until_logged="waiting for it") as released:
        result = run_pipeline(asset_selection=[dg.AssetKey("raw_retention")])
    assert released.is_set() and logged("waiting for it")
    assert result.success and events(result, "STEP_FAILURE") == [] and events(result, "STEP_SUCCESS") == ["raw_retention"]
