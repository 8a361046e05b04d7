"""The dbt project: staging, intermediate and marts models; dbt tests become blocking asset checks."""

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from ingestion.config import warehouse_path
from orchestration.lib.constants import WAREHOUSE_POOL
from orchestration.lib.dbt import dbt_environment, dbt_project, ensure_manifest
from orchestration.lib.translators import WarehouseDbtTranslator
from orchestration.lib.warehouse_lock import retry_on_lock_conflict, wait_until_writable


@dbt_assets(
    manifest=ensure_manifest(),
    project=dbt_project,
    dagster_dbt_translator=WarehouseDbtTranslator(),
    pool=WAREHOUSE_POOL,
)
def journey_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    wait_until_writable(warehouse_path(), log=context.log)
    with retry_on_lock_conflict(context), dbt_environment():
        yield from dbt.cli(["build"], context=context).stream()
