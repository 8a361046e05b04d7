"""The Dagster instance the command line and the UI share: ``$DAGSTER_HOME`` (default ``$JW_DATA_DIR/dagster_home``).

``python -m orchestration.instance`` writes its ``dagster.yaml`` if there is none: every pool, and so the
warehouse writers' pool, runs one step at a time, and the daemon (``make ui``) monitors runs.

A run that dies (kill -9, power cut) leaves nothing that blocks the next one:

- ``open_instance()`` creates the instance's storage under a file lock, so two runs started at once on a
  fresh data folder do not race creating it (or allocate the warehouse pool's slot twice);
- every run started here carries its process id, host and process start time in run tags
  (``run_tags()``); before a run, ``reap_dead_runs()`` marks failed the runs of this host whose process is
  gone and frees their concurrency slots, so the warehouse pool is never held by a dead run;
- the daemon does the same for runs it launched: ``run_monitoring`` fails runs past ``max_runtime_seconds``
  and frees the slots of finished runs after ``free_slots_after_run_end_seconds``.
"""

from __future__ import annotations

import os
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from ingestion.config import dagster_home

if TYPE_CHECKING:
    import dagster as dg

DAGSTER_YAML = """\
# Written by orchestration/instance.py. DuckDB allows one writer per file: pools run one step at a time.
concurrency:
  pools:
    default_limit: 1
# The daemon (make ui) fails runs that stopped reporting and frees the pool slots of finished runs.
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  max_runtime_seconds: 7200
  poll_interval_seconds: 30
  free_slots_after_run_end_seconds: 30
# The real-time path (cart_abandonment_sensor -> cart_abandonment_job): queued runs are launched every second, in
# threads, and sensors tick in threads, so a cart-abandonment run never waits behind a slow launch or the automation
# sensor's evaluation of the whole graph.
run_queue:
  dequeue_interval_seconds: 1
  dequeue_use_threads: true
  dequeue_num_workers: 4
sensors:
  use_threads: true
  num_workers: 4
telemetry:
  enabled: false
"""

# Run tags that say which process runs the run (read by reap_dead_runs).
TAG_PID = "journey/pid"
TAG_HOST = "journey/host"
TAG_PROCESS_START = "journey/process_start"

LOCK_TIMEOUT_SECONDS = 300


def ensure_instance_home() -> Path:
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    ours = config.exists() and config.read_text().startswith(DAGSTER_YAML.splitlines()[0])
    if not config.exists() or (ours and config.read_text() != DAGSTER_YAML):  # missing, or ours but outdated
        tmp = config.with_name(f".dagster.yaml.{os.getpid()}")
        tmp.write_text(DAGSTER_YAML)
        tmp.replace(config)  # atomic: a concurrent reader sees no file or the whole file
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _process_start(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22 of proc(5), counted after the command name


def run_tags() -> dict[str, str]:
    """Tags of a run executed by this process."""
    tags = {TAG_PID: str(os.getpid()), TAG_HOST: socket.gethostname()}
    start = _process_start(os.getpid())
    if start:
        tags[TAG_PROCESS_START] = start
    return tags


def _process_alive(tags: dict[str, str]) -> bool:
    pid = int(tags[TAG_PID])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    recorded = tags.get(TAG_PROCESS_START)
    current = _process_start(pid)
    return not (recorded and current and recorded != current)


def reap_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the in-progress runs of this host whose process is gone, and free every concurrency slot
    (and pending claim) held by a run that is no longer running. Returns the ids of the runs marked failed."""
    from dagster import DagsterRunStatus, RunsFilter
    from dagster._core.storage.dagster_run import FINISHED_STATUSES, IN_PROGRESS_RUN_STATUSES

    host = socket.gethostname()
    reaped = []
    statuses = [*IN_PROGRESS_RUN_STATUSES, DagsterRunStatus.CANCELING]
    for record in instance.get_run_records(filters=RunsFilter(statuses=statuses, tags={TAG_HOST: host})):
        run = record.dagster_run
        if TAG_PID not in run.tags or _process_alive(dict(run.tags)):
            continue
        instance.report_run_failed(
            run, message=f"Process {run.tags[TAG_PID]} that ran this run on {host} is gone (killed?): marked failed."
        )
        reaped.append(run.run_id)

    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        holders = storage.get_concurrency_run_ids()
        if holders:
            finished = instance.get_run_records(filters=RunsFilter(run_ids=list(holders), statuses=FINISHED_STATUSES))
            known = {r.dagster_run.run_id for r in instance.get_run_records(filters=RunsFilter(run_ids=list(holders)))}
            for run_id in {r.dagster_run.run_id for r in finished} | (holders - known):
                storage.free_concurrency_slots_for_run(run_id)
    return reaped


@contextmanager
def open_instance() -> Iterator[dg.DagsterInstance]:
    """The shared instance, its storage created (and dead runs reaped) under a file lock."""
    import dagster as dg
    from filelock import FileLock

    from orchestration.lib.constants import WAREHOUSE_POOL

    home = ensure_instance_home()
    with FileLock(str(home / ".instance.lock"), timeout=LOCK_TIMEOUT_SECONDS):
        instance = dg.DagsterInstance.get()
        try:
            instance.get_run_records(limit=1)  # creates the run and event log storage if missing
            storage = instance.event_log_storage
            if storage.supports_global_concurrency_limits:
                storage.initialize_concurrency_limit_to_default(WAREHOUSE_POOL)
            reap_dead_runs(instance)
        except BaseException:
            instance.dispose()
            raise
    try:
        yield instance
    finally:
        instance.dispose()


if __name__ == "__main__":
    print(ensure_instance_home())
