"""``journey bench pipeline``: the whole pipeline against DuckDB's own speed, for worlds of increasing size.

For every size (``--sizes``: target touchpoint events such as ``100k,1m,10m``, or people such as ``20000p``):

1. ``journey world generate`` (timed) into a fresh data folder; people for an event target come from a pilot
   world's events per person;
2. ``journey run`` in that folder, a process of its own (as users run it), with the demo APIs served by another
   process (so the server is not measured); per-stage wall times from the Dagster run's step events in the
   instance (``ingest_*`` steps = ingestion, ``journey_dbt_models`` = transformation, ``landing_checks_*`` = raw
   checks, the rest = other: docs, serving copy, exports), plus the process's wall time (startup included);
   its process tree's RSS sampled every 0.2 s (sum over the tree) for the peak;
3. the DuckDB-native baseline (``bench/baseline.py``, ``bench/baseline.sql``) on the same source files: load of
   the JSON sources, of the columnar sources, the two models; ratios pipeline / baseline;
4. once (``--incremental-size``): the world cut one day before its end (``journey world generate --until``), a
   run, the full world, a run (incremental), and ``journey run --full-refresh`` on the same data; ratio.

Sizes whose projected generation or run time exceeds ``--max-generate-seconds`` / ``--max-run-seconds`` (a linear
projection from the previous size's rate) are reported as skipped with the reason, not run. Figures, not pass/fail:
the goals of issue 12 are printed next to them. Results: ``bench/results/pipeline-<UTC stamp>.json`` and ``.png``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ingestion.config import REPO_ROOT

RESULTS_DIR = REPO_ROOT / "bench" / "results"
PYTHON = sys.executable
SAMPLE_SECONDS = 0.2
# the rows that become marts.touchpoints, in the source files (the baseline's tables)
EVENT_TABLES = (
    "src_shop__events", "src_shop__orders", "src_esp__events", "src_social__comments", "src_social__reactions",
    "src_social__sharedposts", "src_social__tags", "src_social__checkins", "src_loyalty__receipts", "src_iot__readings",
)  # fmt: skip
JSON_SOURCES = ("shop", "esp", "social", "iot")
COLUMNAR_SOURCES = ("loyalty", "history")
GOALS = {"json_factor": 3.0, "columnar_factor": 1.5, "slack_s": 10.0, "incremental_share": 0.15, "bytes_per_event": 150}


def _baseline():
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from bench import baseline

    return baseline


def parse_size(text: str) -> dict:
    """``20000p`` -> 20,000 people; ``100k`` / ``1m`` / ``10m`` / ``250000`` -> a target of touchpoint events."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmp]?)\s*", text.lower())
    if not match:
        raise ValueError(f"size {text!r}: a number with k or m (events) or p (people), e.g. 100k, 1m, 20000p")
    number, unit = float(match.group(1)), match.group(2)
    if unit == "p":
        return {"label": text.strip(), "people": int(number)}
    return {"label": text.strip(), "events": int(number * {"": 1, "k": 1e3, "m": 1e6}[unit])}


# --- processes -----------------------------------------------------------------------------------------------------


def _env(data_dir: Path, extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JW_", "DAGSTER_HOME", "DBT_TARGET_PATH"))}
    env.update({"JW_DATA_DIR": str(data_dir), "DAGSTER_HOME": str(data_dir / "dagster_home"),
                "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))})  # fmt: skip
    env.update(extra or {})
    (data_dir / "dagster_home").mkdir(parents=True, exist_ok=True)
    return env


def journey(*args: str) -> list[str]:
    return [PYTHON, "-m", "orchestration.cli", *args]


def generate(data_dir: Path, people: int, days: int, seed: int, until: str | None = None, log=None) -> float:
    args = ["world", "generate", "--people", str(people), "--days", str(days), "--seed", str(seed)]
    if until:
        args += ["--until", until]
    started = time.perf_counter()
    subprocess.run(journey(*args), check=True, env=_env(data_dir), stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT)
    return time.perf_counter() - started


class TreeSampler(threading.Thread):
    """Peak of the summed RSS of a process and all its descendants, sampled every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = SAMPLE_SECONDS):
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak, self.samples = pid, interval, 0, 0
        self._halt = threading.Event()

    def run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._halt.is_set():
            total = 0
            try:
                processes = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            for process in processes:
                try:
                    total += process.memory_info().rss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
            self.peak, self.samples = max(self.peak, total), self.samples + 1
            self._halt.wait(self.interval)

    def stop(self) -> int:
        self._halt.set()
        self.join()
        return self.peak


@dataclass
class RunMeasure:
    ok: bool
    wall_s: float
    run_s: float  # the Dagster run, first step start to last step end
    steps: dict[str, float]
    stages: dict[str, float]
    peak_rss: int
    rss_samples: int
    run_id: str | None = None


def stage_of(step_key: str) -> str:
    if step_key.startswith("ingest_"):
        return "ingest"
    if step_key == "journey_dbt_models":
        return "transform"
    if step_key.startswith("landing_checks_"):
        return "raw_checks"
    return "other"


def step_times(dagster_home: Path, pid: int) -> tuple[str | None, dict[str, float], float]:
    """The step durations (success or failure minus start) of the run that process ``pid`` made, from the instance."""
    from dagster import DagsterEventType, DagsterInstance
    from dagster._core.storage.dagster_run import RunsFilter

    from orchestration.instance import TAG_PID

    os.environ["DAGSTER_HOME"] = str(dagster_home)
    instance = DagsterInstance.get()
    try:
        runs = instance.get_runs(RunsFilter(tags={TAG_PID: str(pid)}), limit=1)
        if not runs:
            return None, {}, 0.0
        run = runs[0]
        starts, ends = {}, {}
        kinds = {DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE}
        for record in instance.all_logs(run.run_id, of_type=kinds):
            event = record.dagster_event
            (starts if event.event_type == DagsterEventType.STEP_START else ends)[event.step_key] = record.timestamp
        steps = {key: round(ends[key] - start, 3) for key, start in starts.items() if key in ends}
        span = (max(ends.values()) - min(starts.values())) if starts and ends else 0.0
        return run.run_id, steps, span
    finally:
        instance.dispose()


def run_pipeline(data_dir: Path, full_refresh: bool = False, log=None) -> RunMeasure:
    """``journey run`` in ``data_dir`` with the demo APIs served by a process of their own."""
    _baseline()
    from bench.ingestion_speed import served_elsewhere

    saved = dict(os.environ)
    with served_elsewhere(data_dir / "source_systems" / "api"):
        api_env = {k: v for k, v in os.environ.items() if k.startswith("JW_") and k.endswith(("_API_URL", "_API_TOKEN"))}
        os.environ.clear()
        os.environ.update(saved)
        started = time.perf_counter()
        process = subprocess.Popen(
            journey("run", *(["--full-refresh"] if full_refresh else [])), env=_env(data_dir, api_env),
            stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )  # fmt: skip
        sampler = TreeSampler(process.pid)
        sampler.start()
        try:
            code = process.wait()
        except BaseException:  # interrupted: take the run down with the bench (its dbt child follows it)
            process.terminate()
            process.wait(timeout=60)
            raise
        finally:
            wall = time.perf_counter() - started
            peak = sampler.stop()
    run_id, steps, span = step_times(data_dir / "dagster_home", process.pid)
    stages = {"ingest": 0.0, "raw_checks": 0.0, "transform": 0.0, "other": 0.0}
    for key, seconds in steps.items():
        stages[stage_of(key)] += seconds
    stages["ingest_json"] = sum(s for k, s in steps.items() if k in {f"ingest_{n}" for n in JSON_SOURCES})
    stages["ingest_columnar"] = sum(s for k, s in steps.items() if k in {f"ingest_{n}" for n in COLUMNAR_SOURCES})
    stages = {k: round(v, 3) for k, v in stages.items()}
    return RunMeasure(ok=code == 0, wall_s=round(wall, 3), run_s=round(span, 3), steps=steps, stages=stages,
                      peak_rss=peak, rss_samples=sampler.samples, run_id=run_id)  # fmt: skip


# --- one size ------------------------------------------------------------------------------------------------------


@dataclass
class SizeResult:
    label: str
    people: int
    days: int
    status: str = "done"  # done | skipped | failed
    reason: str = ""
    events: int = 0
    raw_rows: int = 0
    generate_s: float = 0.0
    run: dict | None = None
    baseline: dict | None = None
    ratios: dict = field(default_factory=dict)
    goals: dict = field(default_factory=dict)
    bytes_per_event: float | None = None


def world_counts(tables: dict[str, int]) -> tuple[int, int]:
    """(touchpoint events, raw rows) of a world from the baseline's source tables."""
    return sum(tables.get(t, 0) for t in EVENT_TABLES), sum(tables.values())


def ratios(run: RunMeasure, base: dict) -> tuple[dict, dict]:
    s, slack = run.stages, GOALS["slack_s"]
    pipeline = s["ingest"] + s["transform"]
    out = {
        "ingest_json": s["ingest_json"] / base["json_load_s"] if base["json_load_s"] else None,
        "ingest_columnar": s["ingest_columnar"] / base["columnar_load_s"] if base["columnar_load_s"] else None,
        "transform": s["transform"] / base["models_s"] if base["models_s"] else None,
        "ingest_transform": pipeline / base["total_s"] if base["total_s"] else None,
        "total": run.wall_s / base["total_s"] if base["total_s"] else None,
    }
    goals = {
        # ingestion of each kind of source against the baseline's load of the same files (transformation is not split by source)
        "json_ingest_within_3x_plus_10s": s["ingest_json"] <= GOALS["json_factor"] * base["json_load_s"] + slack,
        "columnar_ingest_within_1_5x_plus_10s": s["ingest_columnar"] <= GOALS["columnar_factor"] * base["columnar_load_s"] + slack,
        "ingest_transform_within_3x_plus_10s": pipeline <= GOALS["json_factor"] * base["total_s"] + slack,
    }
    return {k: (round(v, 2) if v is not None else None) for k, v in out.items()}, goals


def measure_size(size: dict, workdir: Path, days: int, seed: int, events_per_person: float, echo, log) -> SizeResult:
    people = size.get("people") or max(1, round(size["events"] / events_per_person))
    result = SizeResult(label=size["label"], people=people, days=days)
    data = workdir / f"size-{size['label']}"
    echo(f"[{size['label']}] generating {people:,} people x {days} days ...")
    result.generate_s = round(generate(data, people, days, seed, log=log), 2)
    echo(f"[{size['label']}] generated in {result.generate_s:.1f} s; DuckDB-native baseline ...")
    base, con = _baseline().run_baseline(data / "source_systems", data / "baseline.duckdb")
    con.close()
    result.baseline = base.as_dict()
    result.events, result.raw_rows = world_counts(base.tables)
    echo(f"[{size['label']}] {result.events:,} events, {result.raw_rows:,} raw rows; baseline {base.total_s:.1f} s; journey run ...")
    run = run_pipeline(data, log=log)
    result.run = asdict(run)
    if not run.ok:
        result.status, result.reason = "failed", f"journey run exited non-zero (log: {getattr(log, 'name', '-')})"
    result.ratios, result.goals = ratios(run, result.baseline)
    result.bytes_per_event = round(run.peak_rss / result.events, 1) if result.events else None
    echo(f"[{size['label']}] journey run {run.wall_s:.1f} s (ingest {run.stages['ingest']:.1f}, transform "
         f"{run.stages['transform']:.1f}); peak RSS {run.peak_rss / 2**20:.0f} MiB")  # fmt: skip
    return result


def last_day(source_systems: Path) -> str:
    """The date (UTC) of the newest storefront event by the collector's clock: the world's last day (a device's
    clock can be a year ahead, so not ``derived_tstamp``)."""
    import duckdb

    path = str(source_systems / "api" / "shop" / "events.json").replace("'", "''")
    with duckdb.connect() as con:
        newest = con.execute(f"select max(collector_tstamp) from read_json('{path}', format='array')").fetchone()[0]
    return newest.astimezone(timezone.utc).date().isoformat()


def measure_incremental(people: int, days: int, seed: int, workdir: Path, echo, log) -> dict:
    """A run on the world cut at the start of its last day, then on the full world (incremental), then a full
    refresh on the same data."""
    data = workdir / "incremental"
    generate(data, people, days, seed, log=log)
    cut = last_day(data / "source_systems")
    echo(f"[incremental] {people:,} people: world cut at {cut} ...")
    generate(data, people, days, seed, until=cut, log=log)
    first = run_pipeline(data, log=log)
    generate(data, people, days, seed, log=log)
    echo("[incremental] full world, incremental run ...")
    incremental = run_pipeline(data, log=log)
    echo("[incremental] full refresh on the same data ...")
    full = run_pipeline(data, full_refresh=True, log=log)
    part = lambda m: m.stages["ingest"] + m.stages["transform"]  # noqa: E731
    return {
        "status": "done" if first.ok and incremental.ok and full.ok else "failed",
        "people": people, "cut_at": cut,
        "first_run": asdict(first), "incremental_run": asdict(incremental), "full_refresh_run": asdict(full),
        "ratio_ingest_transform": round(part(incremental) / part(full), 3) if part(full) else None,
        "ratio_transform": round(incremental.stages["transform"] / full.stages["transform"], 3) if full.stages["transform"] else None,
        "ratio_wall": round(incremental.wall_s / full.wall_s, 3) if full.wall_s else None,
    }  # fmt: skip


# --- the report -----------------------------------------------------------------------------------------------------


def table_lines(results: list[SizeResult], incremental: dict | None) -> list[str]:
    head = (f"{'size':>8} {'events':>11} {'people':>8} {'raw rows':>11} | {'generate':>8} {'ingest':>7} {'transform':>9} "
            f"{'total':>7} | {'baseline':>8} {'x json':>6} {'x col':>6} {'x i+t':>6} | {'peak MiB':>8} {'B/event':>8}")  # fmt: skip
    lines = [head, "-" * len(head)]
    for r in results:
        if r.status == "skipped":
            lines.append(f"{r.label:>8} {r.events or '':>11} {r.people:>8,}  skipped: {r.reason}")
            continue
        s, b, x = r.run["stages"], r.baseline, r.ratios
        fmt = lambda v: f"{v:.1f}" if v is not None else "-"  # noqa: E731
        lines.append(
            f"{r.label:>8} {r.events:>11,} {r.people:>8,} {r.raw_rows:>11,} | {r.generate_s:>8.1f} {s['ingest']:>7.1f} "
            f"{s['transform']:>9.1f} {r.run['wall_s']:>7.1f} | {b['total_s']:>8.2f} {fmt(x['ingest_json']):>6} "
            f"{fmt(x['ingest_columnar']):>6} {fmt(x['ingest_transform']):>6} | {r.run['peak_rss'] / 2**20:>8.0f} "
            f"{fmt(r.bytes_per_event):>8}" + ("" if r.status == "done" else f"  {r.status.upper()}: {r.reason}")
        )  # fmt: skip
    lines.append("total = `journey run` process wall time (startup, raw checks, docs, serving copy, exports included); "
                 "x json / x col = ingestion of the JSON (API, IoT) / columnar (loyalty SQL, history) sources against "
                 "DuckDB loading the same files; x i+t = (ingest + transform) / whole baseline")  # fmt: skip
    if incremental:
        if incremental.get("status") == "done":
            lines.append(f"incremental day ({incremental['people']:,} people, cut at {incremental['cut_at']}): ingest+transform "
                         f"{incremental['ratio_ingest_transform']:.0%} of a full refresh (transform {incremental['ratio_transform']:.0%}, "
                         f"wall {incremental['ratio_wall']:.0%}); goal <= {GOALS['incremental_share']:.0%}")  # fmt: skip
        else:
            lines.append(f"incremental day: {incremental.get('status')}: {incremental.get('reason', '')}")
    return lines


def plot(results: list[SizeResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = sorted((r for r in results if r.status != "skipped" and r.run), key=lambda r: r.events)
    fig, ax = plt.subplots(figsize=(8, 5))
    if done:
        x = [r.events for r in done]
        series = {
            "generate": [r.generate_s for r in done],
            "ingest": [r.run["stages"]["ingest"] for r in done],
            "transform": [r.run["stages"]["transform"] for r in done],
            "journey run (total)": [r.run["wall_s"] for r in done],
            "DuckDB-native baseline": [r.baseline["total_s"] for r in done],
        }
        for label, values in series.items():
            ax.plot(x, [max(v, 1e-3) for v in values], marker="o", linestyle="--" if "baseline" in label else "-", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("touchpoint events")
    ax.set_ylabel("wall time (s)")
    ax.set_title("journey bench pipeline: wall time per stage vs the DuckDB-native baseline")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def bench_pipeline(sizes: list[str], days: int = 90, seed: int = 42, workdir: Path | None = None,
                   max_generate_s: float = 600, max_run_s: float = 1800, incremental_size: str | None = "largest",
                   results_dir: Path = RESULTS_DIR, keep: bool = False, echo=print) -> dict:  # fmt: skip
    import shutil
    import tempfile

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    workdir = Path(workdir or tempfile.mkdtemp(prefix="jw-bench-pipeline-"))
    workdir.mkdir(parents=True, exist_ok=True)
    log = open(workdir / "bench.log", "w")
    echo(f"work folder {workdir} (logs in bench.log)")
    parsed = [parse_size(s) for s in sizes]
    results: list[SizeResult] = []
    incremental, report_written = None, False
    try:
        events_per_person = None
        if any("events" in s for s in parsed):  # a pilot world: events per person at these days
            pilot = workdir / "pilot"
            generate(pilot, 200, days, seed, log=log)
            base, con = _baseline().run_baseline(pilot / "source_systems")
            con.close()
            events_per_person = world_counts(base.tables)[0] / 200
            shutil.rmtree(pilot, ignore_errors=True)
            echo(f"pilot: {events_per_person:.1f} touchpoint events per person over {days} days")
        rates = None  # (generate s per event, run s per event) of the last size measured
        for size in sorted(parsed, key=lambda s: s.get("events") or s["people"] * (events_per_person or 1)):
            people = size.get("people") or max(1, round(size["events"] / events_per_person))
            projected_events = size.get("events") or (people * events_per_person if events_per_person else None)
            if rates and projected_events:
                gen_projected, run_projected = rates[0] * projected_events, rates[1] * projected_events
                if gen_projected > max_generate_s or run_projected > max_run_s:
                    reason = (f"projected {gen_projected:,.0f} s to generate and {run_projected:,.0f} s to run at "
                              f"{projected_events:,.0f} events (limits {max_generate_s:.0f} s / {max_run_s:.0f} s, linear from the "
                              f"previous size with today's generator)")  # fmt: skip
                    results.append(SizeResult(label=size["label"], people=people, days=days, status="skipped", reason=reason,
                                              events=int(projected_events)))  # fmt: skip
                    echo(f"[{size['label']}] skipped: {reason}")
                    continue
            result = measure_size(size, workdir, days, seed, events_per_person or 1.0, echo, log)
            results.append(result)
            if result.events:
                rates = (result.generate_s / result.events, result.run["wall_s"] / result.events)
            if not keep and result.status == "done":
                shutil.rmtree(workdir / f"size-{size['label']}", ignore_errors=True)
        measured = [r for r in results if r.status == "done"]
        if incremental_size and measured:
            chosen = measured[-1] if incremental_size == "largest" else next(
                (r for r in measured if r.label == incremental_size), None)  # fmt: skip
            if chosen is None:
                incremental = {"status": "skipped", "reason": f"size {incremental_size} was not measured"}
            else:
                incremental = measure_incremental(chosen.people, days, seed, workdir, echo, log)
                if not keep:
                    shutil.rmtree(workdir / "incremental", ignore_errors=True)
        lines = table_lines(results, incremental)
        report = {
            "stamp": stamp, "days": days, "seed": seed, "cpu_count": os.cpu_count(),
            "load_average_1m_at_end": round(os.getloadavg()[0], 2), "goals": GOALS,
            "sizes": [asdict(r) for r in results], "incremental": incremental, "table": lines,
        }  # fmt: skip
        results_dir.mkdir(parents=True, exist_ok=True)
        json_path = results_dir / f"pipeline-{stamp}.json"
        json_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
        plot(results, results_dir / f"pipeline-{stamp}.png")
        echo("")
        for line in lines:
            echo(line)
        echo(f"\nwritten: {json_path} and {json_path.with_suffix('.png')}")
        report_written = True
        return report
    finally:
        log.close()
        failed = not report_written or any(r.status == "failed" for r in results) or (incremental or {}).get("status") == "failed"
        if failed:
            echo(f"kept {workdir} for its logs (bench.log, <size>/logs/)")
        elif not keep:
            shutil.rmtree(workdir, ignore_errors=True)
