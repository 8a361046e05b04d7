"""Ingestion speed: each source's dlt load against DuckDB loading the same records itself.

    python bench/ingestion_speed.py [--people 20000] [--days 90] [--repeat 3] [--sources shop,esp,social]

For every API source, the demo world is generated once and served locally; then, ``--repeat`` times each, into a
fresh DuckDB file:

- **dlt**: ``ingestion.pipelines.load`` (extract over HTTP with pagination, contract checks, Arrow batches, normalize,
  load with merge), as ``journey run`` does it;
- **native**: DuckDB's own ``read_json`` of the records the API serves (the snapshot files behind the demo
  server), one table per collection and one per nested list (unnested), which is the floor for reading those
  records into DuckDB on this machine.

Reported: the minimum wall time of each, rows, and their ratio (dlt / native). Not a test: figures, not pass/fail.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import duckdb


def native_load(files: list[Path], database: Path) -> int:
    """DuckDB reads every collection file itself; nested lists of structs become child tables."""
    rows = 0
    with duckdb.connect(str(database)) as con:
        for path in files:
            table = path.stem
            con.execute(f"create table \"{table}\" as select * from read_json('{path}', format='array')")
            rows += con.execute(f'select count(*) from "{table}"').fetchone()[0]
            for name, kind, *_ in con.execute(f'describe "{table}"').fetchall():
                if kind.startswith("STRUCT(") and kind.endswith("[]"):
                    child = f"{table}__{name}"
                    con.execute(
                        f'create table "{child}" as select unnest("{name}", recursive := true) from "{table}"'
                    )
                    rows += con.execute(f'select count(*) from "{child}"').fetchone()[0]
    return rows


def dlt_load(name: str, endpoints, workdir: Path) -> int:
    from ingestion import pipelines

    info = pipelines.load(name, endpoints, warehouse=workdir / "warehouse.duckdb", pipelines_dir=workdir / "dlt")
    if info.has_failed_jobs:
        raise RuntimeError(f"{name}: dlt load had failed jobs")
    counts = info.pipeline.last_trace.last_normalize_info.row_counts
    return sum(n for table, n in counts.items() if not table.startswith("_dlt") and not table.endswith("__quarantine"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sources", default="shop,esp,social")
    args = parser.parse_args()

    from ingestion import pipelines
    from ingestion.demo_world.generator import generate
    from ingestion.demo_world.writers import write_world

    root = Path(tempfile.mkdtemp(prefix="jw-bench-"))
    started = time.perf_counter()
    write_world(generate(args.seed, args.people, args.days), root / "source_systems")
    print(f"world: {args.people:,} people, {args.days} days ({time.perf_counter() - started:.1f} s to generate)")

    results = []
    with pipelines.source_endpoints(root / "source_systems") as endpoints:
        for name in args.sources.split(","):
            files = sorted((root / "source_systems" / "api" / name).glob("*.json"))
            dlt_times, native_times = [], []
            dlt_rows = native_rows = 0
            for n in range(args.repeat):
                work = Path(tempfile.mkdtemp(prefix=f"{name}-{n}-", dir=root))
                t = time.perf_counter()
                dlt_rows = dlt_load(name, endpoints, work)
                dlt_times.append(time.perf_counter() - t)
                t = time.perf_counter()
                native_rows = native_load(files, work / "native.duckdb")
                native_times.append(time.perf_counter() - t)
            results.append(
                {
                    "source": name,
                    "dlt_s": round(min(dlt_times), 2),
                    "native_s": round(min(native_times), 2),
                    "ratio": round(min(dlt_times) / min(native_times), 1),
                    "dlt_rows": dlt_rows,
                    "native_rows": native_rows,
                }
            )
            print(json.dumps(results[-1]))
    total_dlt = sum(r["dlt_s"] for r in results)
    total_native = sum(r["native_s"] for r in results)
    print(f"all: dlt {total_dlt:.2f} s, native {total_native:.2f} s, ratio {total_dlt / total_native:.1f}x")


if __name__ == "__main__":
    main()
