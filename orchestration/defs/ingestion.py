"""One multi-asset per source system. Each dlt resource is an asset keyed ``[<source>, <table>]``, and
so is every table a resource writes besides its own (dlt child tables, the quarantine), so that each dbt
source has exactly one producing asset."""

import dagster as dg
from dagster_dlt import DagsterDltResource, build_dlt_asset_specs

from ingestion.config import SOURCE_NAMES, warehouse_path
from ingestion.pipelines import DERIVED_TABLES, build_source, make_pipeline
from orchestration.lib.constants import WAREHOUSE_POOL
from orchestration.lib.source_systems import SourceSystemsResource
from orchestration.lib.translators import WarehouseDltTranslator
from orchestration.lib.warehouse_lock import retry_on_lock_conflict, wait_until_writable


def is_quarantine_table(table: str) -> bool:
    return table.endswith("__quarantine")


def quarantine_totals(pipeline, tables: list[str]) -> dict[str, int]:
    """Rows in each of the source's quarantine ``tables`` now (one query each, on the pipeline's own connection)."""
    totals = {}
    if not tables:
        return totals
    try:
        with pipeline.sql_client() as client:
            for table in tables:
                sql = f"select count(*) from {client.make_qualified_table_name(table)}"
                totals[table] = client.execute_sql(sql)[0][0]
    except Exception:  # metadata only: never fail a load that succeeded over it
        pass
    return totals


def build_ingestion_assets(name: str) -> dg.AssetsDefinition:
    translator = WarehouseDltTranslator()
    # The source object here only describes the resources; every run builds a fresh one.
    resource_specs = build_dlt_asset_specs(build_source(name), make_pipeline(name), translator)
    derived_specs = [
        translator.derived_table_spec(name, table, parent) for table, parent in DERIVED_TABLES.get(name, {}).items()
    ]

    @dg.multi_asset(
        specs=[*resource_specs, *derived_specs],
        name=f"ingest_{name}",
        can_subset=True,
        pool=WAREHOUSE_POOL,
    )
    def _ingest(context: dg.AssetExecutionContext, dlt: DagsterDltResource, source_systems: SourceSystemsResource):
        loaded: set[dg.AssetKey] = set()
        pipeline = make_pipeline(name)  # resolves the warehouse path at run time
        wait_until_writable(warehouse_path(), log=context.log)
        with retry_on_lock_conflict(context), source_systems.endpoints() as endpoints:
            for event in dlt.run(
                context=context,
                dlt_source=build_source(name, endpoints),
                dlt_pipeline=pipeline,
                dagster_dlt_translator=translator,
                loader_file_format="parquet",
            ):
                loaded.add(event.asset_key)
                yield event
        row_counts = pipeline.last_trace.last_normalize_info.row_counts
        materialized = [
            spec
            for spec in derived_specs
            if spec.key in context.selected_asset_keys and next(iter(spec.deps)).asset_key in loaded
        ]
        quarantined = quarantine_totals(pipeline, [s.key.path[-1] for s in materialized if is_quarantine_table(s.key.path[-1])])
        for spec in materialized:
            table = spec.key.path[-1]
            metadata = {"rows_loaded": row_counts[table]} if row_counts.get(table) else {}
            if table in quarantined:
                metadata["quarantined_rows_total"] = quarantined[table]
            yield dg.MaterializeResult(asset_key=spec.key, metadata=metadata or None)

    return _ingest


ingest_shop, ingest_esp, ingest_social, ingest_loyalty, ingest_iot, ingest_history = (
    build_ingestion_assets(n) for n in SOURCE_NAMES
)
