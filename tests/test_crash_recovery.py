"""A run that dies leaves nothing that blocks the next, as a user meets it: `journey run` as a process.

The test runs `python -m orchestration.cli run` on the small world in its own data folder, watches it from
outside (dlt's pipeline working folder, the process table: no hooks in the product), kills its whole process
group with SIGKILL at one stage, then the next run at the next stage (extract, normalize, load, dbt), and finally
starts a plain `journey run`: it must finish on its own (a hang is a failure, by timeout) with the same
`marts.customer_360` as a clean run, and leave no pool slot held.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from ingestion.config import REPO_ROOT
from orchestration.lib.constants import WAREHOUSE_POOL

RUN_TIMEOUT = 600  # seconds; a clean small run takes ~90 s of steps here, two started at once ~210 s (idle machine)
STAGE_TIMEOUT = 120


def env_for(data: Path) -> dict[str, str]:
    # one pseudonym key for every data folder here, so person ids compare across them
    return {**os.environ, "JW_DATA_DIR": str(data), "DAGSTER_HOME": str(data / "dagster_home"), "JW_PSEUDONYM_KEY": "crash-test-" + "0" * 32}  # a key of full length


def start_run(data: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "run"],
        cwd=REPO_ROOT, env=env_for(data), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # its own process group: dbt and every other child die with it
    )  # fmt: skip


def finish(run: subprocess.Popen) -> str:
    """Wait for the run; a hang is a failure. Returns its output."""
    try:
        out, _ = run.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(run.pid, signal.SIGKILL)
        out, _ = run.communicate()
        pytest.fail(f"`journey run` did not finish within {RUN_TIMEOUT} s (hung?):\n{out[-3000:]}")
    assert run.returncode == 0, out[-3000:]
    return out


def world_in(tmp_path: Path, small_world) -> Path:
    from ingestion.demo_world.writers import write_world

    data = tmp_path / "data"
    write_world(small_world, data / "source_systems")
    return data


def customer_360(data: Path) -> tuple[list[str], list[tuple]]:
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        columns = [
            c for (c,) in con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = 'marts' and table_name = 'customer_360' order by ordinal_position"
            ).fetchall()
            if not c.startswith("_dlt") and not c.endswith("loaded_at")  # volatile bookkeeping, if any
        ]  # fmt: skip
        select = ", ".join(f'"{c}"' for c in columns)
        return columns, con.execute(f"select {select} from marts.customer_360 order by all").fetchall()


def held_slots_and_runs(data: Path) -> tuple[int, dict[str, int]]:
    """Claimed slots of the warehouse pool, and runs per status, in the data folder's Dagster instance."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(data / "dagster_home")) as instance:
        info = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
        statuses: dict[str, int] = {}
        for record in instance.get_run_records():
            statuses[record.dagster_run.status.value] = statuses.get(record.dagster_run.status.value, 0) + 1
        return len(info.claimed_slots), statuses


def _pipeline_dirs(data: Path, source: str, *parts: str) -> list[Path]:
    folder = data / "dlt_pipelines" / f"journey_{source}"
    try:
        return [p for p in folder.joinpath(*parts).iterdir() if p.is_dir()] if parts else []
    except FileNotFoundError:
        return []


def _extracting(data: Path, source: str) -> bool:
    """dlt is extracting: an extract package under ``normalize/<extract id>/<load id>``, not yet committed."""
    folder = data / "dlt_pipelines" / f"journey_{source}" / "normalize"
    try:
        return any(p.name != "extracted" and p.is_dir() and any(p.iterdir()) for p in folder.iterdir())
    except FileNotFoundError:
        return False


def _normalizing(data: Path, source: str) -> bool:
    """The package is extracted and waits for, or is in, the normalizer."""
    return bool(_pipeline_dirs(data, source, "normalize", "extracted") or _pipeline_dirs(data, source, "load", "new"))


def _loading(data: Path, source: str) -> bool:
    """A normalized package is being loaded: its jobs have started."""
    return any(any((p / "started_jobs").iterdir()) for p in _pipeline_dirs(data, source, "load", "normalized"))


def _dbt_running(run: subprocess.Popen) -> bool:
    """dbt, a child process in the run's process group, is building."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            if os.getpgid(int(entry.name)) != run.pid:
                continue
        except (OSError, ProcessLookupError):
            continue
        if any(arg.endswith(b"/dbt") for arg in cmdline) and b"build" in cmdline:
            return True
    return False


STAGES = {
    "extract": lambda data, run: _extracting(data, "shop"),
    "normalize": lambda data, run: _normalizing(data, "shop"),
    "load": lambda data, run: _loading(data, "shop"),
    "dbt": lambda data, run: _dbt_running(run),
}


# How often each stage is looked for: dlt's stages last a moment; dbt builds for many seconds, and looking for it
# scans the process table (every 5 ms, that took a core from the run it watches)
POLL_SECONDS = {"extract": 0.005, "normalize": 0.005, "load": 0.005, "dbt": 0.05}


def kill_at(stage: str, data: Path, run: subprocess.Popen) -> None:
    deadline = time.monotonic() + STAGE_TIMEOUT
    while not STAGES[stage](data, run):
        if run.poll() is not None:
            pytest.fail(f"the run ended before reaching {stage}:\n{run.stdout.read()[-3000:]}")
        if time.monotonic() > deadline:
            os.killpg(run.pid, signal.SIGKILL)
            pytest.fail(f"the run did not reach {stage} within {STAGE_TIMEOUT} s")
        time.sleep(POLL_SECONDS[stage])
    os.killpg(run.pid, signal.SIGKILL)
    run.wait(timeout=30)
    assert run.returncode == -signal.SIGKILL


@pytest.fixture(scope="module")
def clean_marts(tmp_path_factory, small_world):
    """Two `journey run`s started at once on a fresh data folder both finish (one waits for the other's pool
    slot); what they built is the clean reference."""
    data = world_in(tmp_path_factory.mktemp("clean"), small_world)
    assert not (data / "dagster_home").exists()
    runs = [start_run(data), start_run(data)]
    try:
        outputs = [finish(run) for run in runs]
    finally:  # a failed wait leaves no run behind: the other would wait for the killed one's pool slot for ever
        for run in runs:
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
    assert all("checks:" in out and "FAILED" not in out for out in outputs)
    held, statuses = held_slots_and_runs(data)
    assert held == 0 and statuses == {"SUCCESS": 2}
    return customer_360(data)


def test_two_runs_started_at_once_on_a_fresh_folder_both_finish(clean_marts):
    columns, rows = clean_marts
    assert "person_id" in columns and len(rows) > 100


def test_a_run_killed_at_each_stage_leaves_nothing_that_blocks_the_next(tmp_path, small_world, clean_marts):
    """Killed at extract, then (the next run) at normalize, at load, at dbt: each next run first frees what the
    dead one held, and a plain last run finishes with the clean marts. One data folder, crashes in a row."""
    data = world_in(tmp_path, small_world)
    for killed, stage in enumerate(STAGES, start=1):
        kill_at(stage, data, start_run(data))
        held, statuses = held_slots_and_runs(data)
        # the run just killed, as the instance last heard of it; the ones before it were marked failed
        assert statuses == {"STARTED": 1, **({"FAILURE": killed - 1} if killed > 1 else {})}, stage
        assert held == 1, stage  # it died holding the warehouse pool's slot: the next run must free it, not wait

    finish(start_run(data))  # a plain re-run, on its own

    assert customer_360(data) == clean_marts
    held, statuses = held_slots_and_runs(data)
    assert held == 0
    assert statuses == {"FAILURE": len(STAGES), "SUCCESS": 1}  # dead runs are marked failed, not left "started"
