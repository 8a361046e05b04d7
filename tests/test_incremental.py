"""Incremental dbt models equal a full refresh on the same data, row for row (issue 12, "Incremental").

Day D: the small world as it stood one day before its end (demo_world.cut.until) is loaded by dlt and built by
dbt. Day D+1: the whole world is written over it (the late tills sync too: receipts dated hours before day D's
newest touchpoint that arrive only now), dlt loads what is new and dbt builds incrementally. The same warehouse,
copied, is then rebuilt with ``--full-refresh``; every incremental model must hold the same rows in both (every
column, sorted; the columns that stamp the dbt invocation left out). The person registry is kept by both (it is
never rebuilt: person ids are the warehouse's memory), so a person id means the same person in both.

The same day D+1 built incrementally with ``lookback_days: 0`` misses the late tills' receipts: the comparison
finds it (the test can fail, and the lookback window is what finds late rows).
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from ingestion import config, pipelines
from ingestion.demo_world.cut import at, until
from ingestion.demo_world.writers import sync_late_tills, write_world
from orchestration.lib.dbt import run_dbt

# Incremental models whose content depends on the history of runs by design (append-only logs and histories): a
# full refresh starts them over, so they are not compared.
HISTORIES = {
    "identity_merge_log": "a log of person changes between runs (never rebuilt)",
    "clv_model_runs": "one row per CLV fit run",
    "campaign_plan": "sends planned earlier in the week stay (frequency cap across builds)",
    "segment_membership": "entered/exited events between builds",
}
# Columns that name the dbt invocation that wrote a row (they differ between any two builds).
INVOCATION_COLUMNS = {"sessionized_in", "changed_in"}


def _load_all(systems: Path, warehouse: Path, dlt_dir: Path) -> dict[str, int]:
    """Every source into ``warehouse`` (dlt state in ``dlt_dir``); rows written per source in this load."""
    written = {}
    with pipelines.source_endpoints(systems) as endpoints:
        for name in config.SOURCE_NAMES:
            info = pipelines.load(name, endpoints, warehouse=warehouse, pipelines_dir=dlt_dir)
            assert not info.has_failed_jobs, name
            counts = info.pipeline.last_trace.last_normalize_info.row_counts
            written[name] = sum(n for table, n in counts.items() if not table.startswith("_dlt"))
    return written


def _dbt(args: list[str], warehouse: Path, target: Path) -> dict:
    done = run_dbt(["build", "--exclude-resource-type", "test", "--exclude-resource-type", "unit_test", *args], warehouse,
                   target, log_dir=target / "logs")
    assert done.returncode == 0, done.stdout[-4000:]
    return json.loads((target / "manifest.json").read_text())


def _incremental_models(manifest: dict) -> dict[str, str]:
    """name -> schema.table of every incremental model."""
    return {
        node["name"]: f'{node["schema"]}.{node.get("alias") or node["name"]}'
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["config"]["materialized"] == "incremental"
    }


def _differences(left: Path, right: Path, models: dict[str, str]) -> dict[str, tuple[int, int, int, int]]:
    """Per model: (rows left, rows right, rows only left, rows only right), for the models that differ."""
    differ = {}
    with duckdb.connect() as con:
        con.execute(f"attach '{left}' as l (read_only)")
        con.execute(f"attach '{right}' as r (read_only)")
        for name, table in sorted(models.items()):
            columns = [c for (c,) in con.execute(
                "select column_name from information_schema.columns where table_catalog = 'l' and "
                "table_schema || '.' || table_name = ? order by ordinal_position", [table]).fetchall()]
            assert columns, f"{table} not in the incremental build"
            kept = ", ".join(f'"{c}"' for c in columns if c not in INVOCATION_COLUMNS)
            counts = con.execute(
                f"select (select count(*) from l.{table}), (select count(*) from r.{table}),"
                f" (select count(*) from (select {kept} from l.{table} except all select {kept} from r.{table})),"
                f" (select count(*) from (select {kept} from r.{table} except all select {kept} from l.{table}))"
            ).fetchone()
            if counts[2] or counts[3]:
                differ[name] = counts
    return differ


def _copy(warehouse: Path, folder: Path) -> Path:
    folder.mkdir(parents=True)
    shutil.copyfile(warehouse, folder / warehouse.name)
    return folder / warehouse.name


def test_incremental_day_equals_full_refresh(small_world, tmp_path, monkeypatch):
    monkeypatch.setenv("JW_PSEUDONYM_KEY_FILE", str(tmp_path / "pseudonym.key"))  # one key for every copy
    (tmp_path / "pseudonym.key").write_text("incremental-test-key-" + "0" * 32)
    world = small_world
    day = world.end - timedelta(days=1)
    systems, dlt_dir = tmp_path / "source_systems", tmp_path / "dlt"
    warehouse = tmp_path / "incremental" / "warehouse.duckdb"
    warehouse.parent.mkdir()

    # day D: the world as it stood then (the late tills have not synced)
    first_day = until(world, day)
    write_world(first_day, systems)
    first = _load_all(systems, warehouse, dlt_dir)
    manifest = _dbt([], warehouse, tmp_path / "target-d")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        newest = con.execute("select max(occurred_at) from marts.touchpoints").fetchone()[0]
    late = [r for r in world.loyalty_late["receipts"] if at(r["purchased_at"]) < newest]
    assert late, "the late tills must bring receipts dated before day D's newest touchpoint"

    # day D+1: the whole world; dlt loads what is new, dbt builds incrementally
    paths = write_world(world, systems)
    sync_late_tills(world, paths["loyalty"])
    shutil.rmtree(dlt_dir)  # as under Dagster: no local dlt state, it comes back from the warehouse
    written = _load_all(systems, warehouse, dlt_dir)
    assert written["loyalty"] >= len(late)
    # dlt reads what is new (cursors and file fingerprints kept in the warehouse), not the sources again
    assert written["history"] == 0, written  # the history export did not change
    assert all(written[name] < first[name] / 3 for name in ("shop", "esp", "social", "iot")), (first, written)
    before = _copy(warehouse, tmp_path / "lookback0")  # raw of day D+1, models of day D
    _dbt([], warehouse, tmp_path / "target-d1")

    # the same data built in full
    full = _copy(warehouse, tmp_path / "full")
    _dbt(["--full-refresh"], full, tmp_path / "target-full")

    models = _incremental_models(manifest)
    assert {"touchpoints", "int_touchpoints", "journey_sessions", "int_journey__touchpoint_sessions"} <= set(models)
    compared = {name: table for name, table in models.items() if name not in HISTORIES}
    assert _differences(warehouse, full, compared) == {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        receipts = {r for (r,) in con.execute("select touchpoint_id from marts.touchpoints where touchpoint_type = 'pos_receipt'").fetchall()}
    assert {f"receipt:{r['receipt_id']}" for r in late} <= receipts

    # no lookback: the late tills' receipts are missed, and the comparison says so
    _dbt(["--vars", "{lookback_days: 0}"], before, tmp_path / "target-lookback0")
    missed = _differences(before, full, {"touchpoints": compared["touchpoints"]})
    assert missed and missed["touchpoints"][3] >= len(late), missed
