import dagster as dg
from dagster_dlt import DagsterDltResource

from orchestration.lib.dbt import DBT_EXECUTABLE, WarehouseDbtCliResource, dbt_project
from orchestration.lib.source_systems import SourceSystemsResource


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "dlt": DagsterDltResource(),
            "dbt": WarehouseDbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE),
            "source_systems": SourceSystemsResource(),
        }
    )
