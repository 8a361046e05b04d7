"""``make demo``: build the demo world, run the whole graph on the embedded DuckDB, print what was built.

The run goes through the same Dagster instance ``make ui`` opens, so its materializations show there.
"""

from __future__ import annotations

import argparse
import contextlib
import time

import duckdb

from ingestion import config
from ingestion.demo_world.generator import add_world_arguments, generate
from ingestion.demo_world.scoring import score_identity
from ingestion.demo_world.writers import write_world

LAYERS = {
    "raw": config.SOURCE_NAMES,
    "staging": ("staging",),
    "intermediate": ("intermediate",),
    "marts": ("marts",),
}


def layer_counts(warehouse) -> dict[str, dict[str, int]]:
    """Row counts of every table and view in the warehouse, by layer (dlt's bookkeeping tables left out)."""
    counts: dict[str, dict[str, int]] = {layer: {} for layer in LAYERS}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        relations = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_name not like '\\_dlt%' escape '\\' order by 1, 2"
        ).fetchall()
        for schema, table in relations:
            layer = next((name for name, schemas in LAYERS.items() if schema in schemas), None)
            if layer:
                counts[layer][f"{schema}.{table}"] = con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
    return counts


def run_pipeline(asset_selection=None):
    """Materialize every asset (or ``asset_selection``) and run their checks in-process on the shared instance."""
    import dagster as dg

    from orchestration.instance import ensure_instance_home

    ensure_instance_home()
    from orchestration.definitions import defs

    job = defs.resolve_implicit_global_asset_job_def()
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    with dg.DagsterInstance.get() as instance:
        return job.execute_in_process(
            run_config=quiet, instance=instance, asset_selection=asset_selection, raise_on_error=False
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    add_world_arguments(parser)
    args = parser.parse_args()

    started = time.monotonic()
    world = generate(args.seed, args.people, args.days)
    written = write_world(world, config.source_systems_dir())
    print(f"demo world: {args.people} people, {args.days} days, seed {args.seed} -> {config.source_systems_dir()}")

    log_path = config.data_dir() / "logs" / "demo_run.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        result = run_pipeline()
    print(f"pipeline log: {log_path}")
    if not result.success:
        failed = [e.step_key for e in result.all_events if e.is_step_failure]
        print(f"pipeline FAILED in steps: {', '.join(failed)}")
        return 1
    checks = [e.asset_check_evaluation_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    passed = sum(1 for c in checks if c.passed)

    warehouse = config.warehouse_path()
    counts = layer_counts(warehouse)
    print(f"\nwarehouse: {warehouse}")
    for layer, tables in counts.items():
        detail = ""
        if layer == "raw":
            detail = " · ".join(
                f"{source} {sum(n for t, n in tables.items() if t.startswith(source + '.')):,}" for source in config.SOURCE_NAMES
            )
        elif layer == "marts":
            detail = " · ".join(f"{t.split('.', 1)[1]} {n:,}" for t, n in tables.items())
        print(f"  {layer:<13}{len(tables):>3} tables {sum(tables.values()):>9,} rows   {detail}".rstrip())
    quarantined = counts["raw"].get("iot.readings__quarantine", 0)
    print(f"  quarantined: {quarantined:,} IoT lines with their reasons in iot.readings__quarantine")
    score = score_identity(warehouse, written["ground_truth"])
    print(f"\nchecks: {passed} of {len(checks)} passed")
    print(
        f"identity resolution vs ground truth: precision {score.precision:.4f} "
        f"({score.correct_pairs}/{score.predicted_pairs} pairs), recall {score.recall:.4f} "
        f"({score.correct_pairs}/{score.true_pairs} pairs)"
    )
    print(f"wall time: {time.monotonic() - started:.1f} s")
    print(f"\nopen the Dagster UI on these runs: make ui  (DAGSTER_HOME={config.dagster_home()})")
    return 0 if passed == len(checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
