"""Privacy: retention of raw events (``ingestion.retention``), an asset in the warehouse pool run by a daily schedule."""

import dagster as dg

from ingestion.config import warehouse_path
from ingestion.retention import EVENT_TABLES, apply_retention
from orchestration.lib.constants import WAREHOUSE_POOL
from orchestration.lib.warehouse_lock import retry_on_lock_conflict, wait_until_writable


@dg.asset(
    name="raw_retention",
    group_name="privacy",
    pool=WAREHOUSE_POOL,
    kinds={"duckdb"},
    # after the loads of the tables it trims (a run of the whole graph ingests first)
    deps=[dg.AssetKey([schema, table]) for schema, table in EVENT_TABLES],
    description=(
        "Deletes raw event rows older than JW_RETENTION_DAYS (default 1095 days) from "
        + ", ".join(f"{s}.{t} (by {c})" for (s, t), c in EVENT_TABLES.items())
        + ", with their dlt child rows and dlt merge-staging copies. Metadata: the cut-off and the rows deleted per table."
    ),
)
def raw_retention(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    wait_until_writable(warehouse_path(), log=context.log)
    with retry_on_lock_conflict(context):
        result = apply_retention(warehouse_path())
    context.log.info(f"Retention ({result.days} days): {result.total} raw event rows older than {result.cutoff:%Y-%m-%d %H:%M} UTC deleted.")
    return dg.MaterializeResult(
        metadata={
            "retention_days": result.days,
            "cutoff": dg.MetadataValue.timestamp(result.cutoff),
            "rows_deleted": result.total,
            **{f"rows_deleted/{table}": n for table, n in {**result.deleted, **result.deleted_children}.items()},
            **{f"staging_rows_deleted/{table}": n for table, n in result.deleted_staging.items()},
        }
    )


raw_retention_daily = dg.ScheduleDefinition(
    name="raw_retention_daily",
    target=dg.AssetSelection.assets(raw_retention),
    cron_schedule="30 3 * * *",  # 03:30 UTC, outside the day's loads
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Deletes raw events older than JW_RETENTION_DAYS every day (asset raw_retention).",
)
