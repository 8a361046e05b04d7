"""The dbt project: staging, intermediate and marts models; dbt tests become blocking asset checks.

dbt's unit tests check the models' logic on fixed inputs, not the data: they pass or fail the same on every run,
so the production build leaves them out (``--exclude-resource-type unit_test``, a fifth of its time) and `make test`
runs them (tests/test_journeys.py's full ``dbt build``).
"""

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from ingestion.config import warehouse_path
from orchestration.lib.constants import WAREHOUSE_POOL
from orchestration.lib.dbt import build_target_path, dbt_environment, dbt_project, ensure_manifest, parse_state_kept
from orchestration.lib.mart_metadata import with_mart_metadata
from orchestration.lib.translators import WarehouseDbtTranslator
from orchestration.lib.warehouse_lock import retry_on_lock_conflict, wait_until_writable


class DbtBuildConfig(dg.Config):
    """``full_refresh``: rebuild incremental models (touchpoints, journey sessions, texts' sentiment, device-days, daily
    sentiment) from scratch, not just their lookback window (dbt var ``lookback_days``). The person registry and the
    append-only histories (identity_merge_log, ...) are never rebuilt (``full_refresh=false``) or start over."""

    full_refresh: bool = False


@dbt_assets(
    manifest=ensure_manifest(),
    project=dbt_project,
    dagster_dbt_translator=WarehouseDbtTranslator(),
    pool=WAREHOUSE_POOL,
)
def journey_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig):
    wait_until_writable(warehouse_path(), log=context.log)
    args = ["build", "--exclude-resource-type", "unit_test", *(["--full-refresh"] if config.full_refresh else [])]
    target = build_target_path(context.op_execution_context.op.name, context.run.run_id)
    with retry_on_lock_conflict(context), dbt_environment(), parse_state_kept(target, warehouse_path()):
        events = dbt.cli(args, context=context, target_path=target).stream()
        yield from with_mart_metadata(events, context, warehouse_path(), dbt_project.manifest_path)
