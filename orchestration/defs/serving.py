"""The serving copy (``orchestration.serving``): after every model of schemas ``marts`` and ``pii``, the marts are
published to ``serving.duckdb`` (and ``serving_pii.duckdb``) for BI tools and the dashboard, and to PostgreSQL when
``$JW_SERVING_POSTGRES_URL`` is set. It only reads the warehouse, but runs in the warehouse pool: no writer changes
the marts while they are copied."""

import json

import dagster as dg

from ingestion.config import warehouse_path
from orchestration.lib.cadence import marts_follow_sources
from orchestration.lib.constants import WAREHOUSE_POOL
from orchestration.lib.dbt import dbt_project, ensure_manifest
from orchestration.lib.translators import WarehouseDbtTranslator
from orchestration.lib.warehouse_lock import retry_on_lock_conflict

SERVED_SCHEMAS = ("marts", "pii")


def served_model_keys() -> list[dg.AssetKey]:
    """The asset keys of every dbt model built into ``marts`` or ``pii`` (from the manifest, as the dbt assets get them)."""
    manifest = json.loads(ensure_manifest().read_text())
    translator = WarehouseDbtTranslator()
    return sorted(
        (
            translator.get_asset_spec(manifest, unique_id, dbt_project).key
            for unique_id, node in manifest["nodes"].items()
            if node["resource_type"] == "model" and node["schema"] in SERVED_SCHEMAS
        ),
        key=lambda key: key.path,
    )


@dg.asset(
    name="serving_copy",
    group_name="serving",
    pool=WAREHOUSE_POOL,
    kinds={"duckdb"},
    deps=served_model_keys(),
    automation_condition=marts_follow_sources(),  # after the models it reads changed (defs/automation.py)
    description=(
        "The marts for readers (BI tools, the dashboard): every table and view of schema marts copied into "
        "serving.duckdb next to the warehouse (schema pii into serving_pii.duckdb, owner-only), in DuckDB storage "
        "format v1.0.0 (DuckDB 0.10 and later read it), swapped in atomically; meta.publications lists what was "
        "published when. Also refreshes PostgreSQL (schemas marts and pii, role bi_reader) in one transaction when "
        "JW_SERVING_POSTGRES_URL is set. Open serving.duckdb read-only; never warehouse.duckdb."
    ),
)
def serving_copy(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    from orchestration.serving import READABLE_BY, publish_all

    with retry_on_lock_conflict(context):
        report = publish_all(warehouse_path())
    context.log.info(
        f"Serving copy published: {len(report.tables)} tables, {report.rows:,} rows -> {report.path} "
        f"in {report.seconds:.1f} s" + (f"; PostgreSQL {report.postgres_url} too" if report.postgres_url else "")
    )
    marts = {t: n for t, n in report.tables.items() if t.startswith("marts.")}
    metadata = {
        "path": dg.MetadataValue.path(str(report.path)),
        "pii_path": dg.MetadataValue.path(str(report.pii_path)) if report.pii_path else None,
        "tables": len(marts),
        "rows": sum(marts.values()),
        "pii_tables": len(report.tables) - len(marts),
        "pii_rows": report.rows - sum(marts.values()),
        "bytes": report.bytes,
        "seconds": round(report.seconds, 2),
        "storage_version": report.storage_version,
        "readable_by": READABLE_BY,
        "published_at": dg.MetadataValue.timestamp(report.published_at),
        "rows_by_table": dg.MetadataValue.json(marts),
    }
    if report.postgres_url:
        metadata.update({
            "postgres": report.postgres_url,  # password masked
            "postgres_tables": len(report.postgres_tables),
            "postgres_seconds": round(report.postgres_seconds, 2),
        })  # fmt: skip
    return dg.MaterializeResult(metadata={k: v for k, v in metadata.items() if v is not None})
