"""Tests never touch the user's data folder: everything goes to a temporary JW_DATA_DIR."""

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import NamedTuple

import pytest

_DATA_DIR = Path(tempfile.mkdtemp(prefix="jw-test-"))
os.environ["JW_DATA_DIR"] = str(_DATA_DIR)
os.environ["DAGSTER_HOME"] = str(_DATA_DIR / "dagster_home")
(_DATA_DIR / "dagster_home").mkdir()  # Dagster wants it to exist, whichever test touches it first
for var in ("JW_WAREHOUSE_PATH", "JW_SHOP_API_URL", "JW_ESP_API_URL", "JW_SOCIAL_API_URL", "JW_LOYALTY_DB_URL", "JW_LOYALTY_DB_SCHEMA", "JW_IOT_BUCKET_URL", "JW_HISTORY_DIR"):
    os.environ.pop(var, None)
os.environ["RUNTIME__LOG_LEVEL"] = "WARNING"
os.environ.pop("JW_SCHEDULE_TIMEZONE", None)  # the schedules' default zone (Europe/Berlin), whatever the shell says

# A small world for source-level tests; the pipeline tests use the demo's default world.
SMALL = {"seed": 7, "people": 300, "days": 21}


# The longest files first. CPU seconds per file (user + system, children included), one file per process with
# `-n 0` on a busy shared machine; the shared small build (~36 s) counted in each file that uses it, paid once per
# run in the suite: pipeline 178 (the default world built twice), forget 86, loyalty (its deletes test alone 74),
# secrets canary 70, publish postgres 67, identity graph 64, warehouse lock 50, ESP graph, journeys, retention,
# shop source, demo; crash recovery (seven `journey run` processes) was the longest in wall time of the last
# whole-suite run. test_experience.py reads test_pipeline.py's build (conftest's default_build): it comes after it.
# With `--dist loadfile --no-loadscope-reorder` (pyproject) the two workers take files in this order, so the long
# ones start at once and the many short files fill the gaps at the end instead of one long file running alone.
# xdist queues one more file on a worker whose files have two tests or fewer left: the crash recovery's worker
# takes the third file at once.
HEAVY_FIRST = (
    "test_crash_recovery.py",
    "test_serving.py",
    "test_postgres_engine.py",  # the demo world on PostgreSQL and DuckDB (~4 minutes)
    "test_incremental.py",
    "test_pipeline.py",  # before test_experience.py (conftest's default_build)
    "test_forget.py",
    "test_loyalty.py",
    "test_secrets_canary.py",
    "test_publish_postgres.py",
    "test_identity_graph.py",
    "test_journeys.py",
    "test_warehouse_lock.py",
    "test_esp_graph.py",
    "test_retention.py",
    "test_shop_source.py",
    "test_demo.py",
    "test_experience.py",
    "test_social_api.py",
    "test_esp_source.py",
    "test_iot_source.py",
)


def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_DATA_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return _DATA_DIR


@pytest.fixture(scope="session")
def small_world():
    from ingestion.demo_world import generate

    return generate(**SMALL)


@pytest.fixture()
def small_systems(small_world, tmp_path):
    """The small world written to its source systems in a fresh folder (tests may change them)."""
    from ingestion.demo_world.writers import write_world

    write_world(small_world, tmp_path / "source_systems")
    return tmp_path / "source_systems"


class SmallBuild(NamedTuple):
    """The small world loaded raw and built once per test run (see ``small_build``); read it, never change it:
    copy a warehouse with ``copy_warehouse`` first."""

    systems: Path  # its source systems (ground truth, journeys truth, ...)
    raw: Path  # the six sources loaded by dlt, no dbt
    pipelines_dir: Path  # dlt's working folders of that load (its state, to load on top of a copy of ``raw``)
    built: Path  # ``raw`` after a full ``dbt build`` (models, seeds, data tests, unit tests)
    target: Path  # that build's dbt target (manifest.json, run_results.json)


def copy_warehouse(warehouse: Path, folder: Path, name: str = "warehouse.duckdb") -> Path:
    """A copy of ``warehouse`` in ``folder``, with the pseudonym key next to it (dbt keys new person ids with it)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(warehouse, folder / name)
    if (warehouse.parent / "pseudonym.key").exists():
        shutil.copy2(warehouse.parent / "pseudonym.key", folder / "pseudonym.key")
    return folder / name


@pytest.fixture(scope="session")
def small_build(small_world, tmp_path_factory) -> SmallBuild:
    """The small world written, loaded raw (every source) and built by a full ``dbt build``: once per test run,
    whichever xdist worker needs it first (the others wait for it under a file lock, then read the same files).

    Several files test what dbt makes of this one world (journeys, CLV): each used to load and build it itself
    (~20 s of CPU each time)."""
    from filelock import FileLock

    from ingestion import config, pipelines
    from ingestion.demo_world.writers import write_world
    from orchestration.lib.dbt import run_dbt

    root = _shared_root(tmp_path_factory) / "small_build"
    build = SmallBuild(root / "source_systems", root / "raw" / "raw.duckdb", root / "raw" / "dlt",
                       root / "built" / "warehouse.duckdb", root / "built" / "dbt_target")  # fmt: skip
    root.mkdir(exist_ok=True)
    with FileLock(root.with_suffix(".lock")):
        if not (root / "done").exists():
            write_world(small_world, build.systems)
            with pipelines.source_endpoints(build.systems) as endpoints:
                for name in config.SOURCE_NAMES:
                    info = pipelines.load(name, endpoints, warehouse=build.raw, pipelines_dir=build.pipelines_dir)
                    assert not info.has_failed_jobs, name
            copy_warehouse(build.raw, build.built.parent, build.built.name)
            done = run_dbt(["build"], build.built, build.target, log_dir=build.target / "logs")
            assert done.returncode == 0, done.stdout[-4000:]
            (root / "done").touch()
    return build


def _shared_root(tmp_path_factory) -> Path:
    """A folder every xdist worker of this test run sees (the workers' common base folder)."""
    root = tmp_path_factory.getbasetemp()
    return root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root


class DefaultBuild(NamedTuple):
    """The demo's default world as test_pipeline.py's whole-graph run built it (raw, every model, dbt's data
    tests; no unit tests), copied right after that run, before its tests change anything. Read it, never change
    it: copy a warehouse with ``copy_warehouse`` first."""

    warehouse: Path
    truth: dict[str, str]  # the world's truth files (``write_world``'s names: text_sentiment_truth, ...)


DEFAULT_BUILD_WAIT = 1200  # seconds; the whole-graph run of the default world takes a few minutes on a busy machine


def publish_default_build(tmp_path_factory, warehouse: Path, source_systems: Path, success: bool) -> None:
    """test_pipeline.py's run of the default world, shared with other files (``default_build``)."""
    root = _shared_root(tmp_path_factory) / "default_build"
    root.mkdir(exist_ok=True)
    if success:
        copy_warehouse(warehouse, root)
        for truth in source_systems.glob("*.parquet"):
            shutil.copyfile(truth, root / truth.name)
    (root / ("done" if success else "failed")).touch()


@pytest.fixture(scope="session")
def default_build(request, tmp_path_factory) -> DefaultBuild | None:
    """test_pipeline.py's build of the default world when that file runs in this session (it runs early, see
    HEAVY_FIRST; another worker waits for it here), else None: the caller then builds the world itself.

    Loading and building the default world costs about a minute of CPU; two files used to do it each."""
    import time

    builds = any(item.path.name == "test_pipeline.py" and "demo_run" in item.fixturenames for item in request.session.items)
    root = _shared_root(tmp_path_factory) / "default_build"
    deadline = time.monotonic() + DEFAULT_BUILD_WAIT
    alone = not os.environ.get("PYTEST_XDIST_WORKER")  # one process: test_pipeline.py has run by now, or will not
    while builds and not (root / "done").exists():
        if alone or (root / "failed").exists() or time.monotonic() > deadline:
            return None  # the run failed (test_pipeline.py says why) or never came: build it yourself
        time.sleep(1)
    if not builds:
        return None
    truth = {p.stem: str(p) for p in root.glob("*.parquet")}
    return DefaultBuild(root / "warehouse.duckdb", truth)


def rows(warehouse: Path, sql: str) -> list[tuple]:
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def one(warehouse: Path, sql: str):
    return rows(warehouse, sql)[0][0]


def count(warehouse: Path, relation: str, where: str = "true") -> int:
    return one(warehouse, f"select count(*) from {relation} where {where}")


def dbt(warehouse: Path, tmp: Path, *args: str) -> dict:
    """Run dbt against ``warehouse`` (target and logs in ``tmp``); returns the run results by node name."""

    from orchestration.lib.dbt import run_dbt

    target = tmp / "dbt_target"
    done = run_dbt(list(args), warehouse, target, log_dir=tmp / "dbt_logs")
    assert done.returncode == 0, done.stdout[-4000:]
    return built_nodes(target)


def built_nodes(target: Path) -> dict[str, dict]:
    """dbt's run results of a target folder by node name: what dbt ran or tested (exposures, which dbt lists with
    status no-op, and the on-run-start hook (engine_setup, nothing on DuckDB) left out: they build nothing)."""
    results = json.loads((target / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[2]: r for r in results if not r["unique_id"].startswith(("exposure.", "operation."))}


def loaded_rows(info) -> dict[str, int]:
    """Rows dlt normalised into data tables during the last run (its own bookkeeping left out)."""
    counts = info.pipeline.last_trace.last_normalize_info.row_counts
    return {table: n for table, n in counts.items() if not table.startswith("_dlt")}


def snapshot(warehouse: Path, relation: str) -> list[tuple]:
    """Every row of ``relation``, dlt's load ids left out, in a stable order."""
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        columns = [c for (c,) in con.execute(f"select column_name from (describe {relation})").fetchall()
                   if not c.startswith("_dlt")]
        return con.execute(f"select {', '.join(columns)} from {relation} order by all").fetchall()
