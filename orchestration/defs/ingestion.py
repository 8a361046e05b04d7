"""One multi-asset per source system. Each dlt resource is an asset keyed ``[<source>, <table>]``, and
so is every table a resource writes besides its own (dlt child tables, the quarantine), so that each dbt
source has exactly one producing asset.

Each source's assets carry its freshness policy (how late a load may be) and every load its retry policy
(exponential backoff with jitter), both from ``orchestration.lib.cadence``; an error no retry can mend fails
the step at once (``permanent_failure``)."""

import dagster as dg
from dagster_dlt import DagsterDltResource, build_dlt_asset_specs

from ingestion.config import SOURCE_NAMES, warehouse_path
from ingestion.pipelines import DERIVED_TABLES, build_source, loader_file_format, make_pipeline
from orchestration.lib.cadence import INGESTION_RETRY_POLICY, freshness_policy
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


# HTTP statuses worth a retry: timeout, too early, too many requests (and every 5xx).
RETRYABLE_STATUSES = {408, 425, 429}
# What a database says when the URL points at nothing a retry can find (psycopg2 / PostgreSQL messages).
PERMANENT_DATABASE_ERRORS = ("does not exist", "password authentication failed", "no password supplied")


def permanent_failure(error: BaseException | None) -> str | None:
    """Why no retry of a load can mend ``error`` (or an error it was raised from), or None if one may.

    A 4xx answer (refused token, wrong URL), a database that is missing or refuses the login, or a configured path
    that does not exist stays so until a person changes the configuration: retrying it for minutes would only delay the failure. The text names the
    status or the kind of error, never the message (it may carry a URL with a token).
    """
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        status = getattr(getattr(error, "response", None), "status_code", None)
        if isinstance(status, int) and 400 <= status < 500 and status not in RETRYABLE_STATUSES:
            return f"HTTP {status}"
        if any(text in str(error) for text in PERMANENT_DATABASE_ERRORS):
            return f"{type(error).__name__} (database missing or login refused)"
        if isinstance(error, FileNotFoundError):  # no source systems folder, a JW_HISTORY_DIR that is not there
            return "FileNotFoundError (a configured path does not exist)"
        if isinstance(error, ImportError) or type(error).__name__ == "ConfigFieldMissingException":  # dlt: no token
            return f"{type(error).__name__} (configuration or installation incomplete)"
        error = error.__cause__ or error.__context__
    return None


def build_ingestion_assets(name: str) -> dg.AssetsDefinition:
    translator = WarehouseDltTranslator()
    policy = freshness_policy(name)
    # The source object here only describes the resources; every run builds a fresh one.
    resource_specs = build_dlt_asset_specs(build_source(name), make_pipeline(name), translator)
    derived_specs = [
        translator.derived_table_spec(name, table, parent) for table, parent in DERIVED_TABLES.get(name, {}).items()
    ]

    @dg.multi_asset(
        specs=[spec.replace_attributes(freshness_policy=policy) for spec in (*resource_specs, *derived_specs)],
        name=f"ingest_{name}",
        can_subset=True,
        pool=WAREHOUSE_POOL,
        retry_policy=INGESTION_RETRY_POLICY,
    )
    def _ingest(context: dg.AssetExecutionContext, dlt: DagsterDltResource, source_systems: SourceSystemsResource):
        try:
            yield from _load(context, dlt, source_systems)
        except Exception as error:
            reason = permanent_failure(error)
            if reason is None:
                raise  # the retry policy tries again
            raise dg.Failure(
                description=f"Loading {name} failed: {reason}, which no retry mends (check the source's URL and credentials).",
                allow_retries=False,
            ) from error

    def _load(context: dg.AssetExecutionContext, dlt: DagsterDltResource, source_systems: SourceSystemsResource):
        loaded: set[dg.AssetKey] = set()
        pipeline = make_pipeline(name)  # resolves the warehouse path at run time
        wait_until_writable(warehouse_path(), log=context.log)
        with retry_on_lock_conflict(context), source_systems.endpoints() as endpoints:
            for event in dlt.run(
                context=context,
                dlt_source=build_source(name, endpoints),
                dlt_pipeline=pipeline,
                dagster_dlt_translator=translator,
                loader_file_format=loader_file_format(),
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
