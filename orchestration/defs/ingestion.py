"""One multi-asset per source system. Each dlt resource is an asset keyed ``[<source>, <table>]``, and
so is every table a resource writes besides its own (dlt child tables, the quarantine), so that each dbt
source has exactly one producing asset."""

import dagster as dg
from dagster_dlt import DagsterDltResource, build_dlt_asset_specs

from ingestion.config import SOURCE_NAMES
from ingestion.pipelines import DERIVED_TABLES, build_source, make_pipeline
from orchestration.lib.constants import WAREHOUSE_POOL
from orchestration.lib.source_systems import SourceSystemsResource
from orchestration.lib.translators import WarehouseDltTranslator


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
        with source_systems.endpoints() as endpoints:
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
        for spec in derived_specs:
            parent = next(iter(spec.deps)).asset_key
            if spec.key in context.selected_asset_keys and parent in loaded:
                rows = row_counts.get(spec.key.path[-1])
                yield dg.MaterializeResult(asset_key=spec.key, metadata={"rows_loaded": rows} if rows else None)

    return _ingest


ingest_shop, ingest_esp, ingest_social, ingest_loyalty, ingest_iot = (build_ingestion_assets(n) for n in SOURCE_NAMES)
