"""Journey Warehouse orchestration: Dagster definitions over the dlt sources and the dbt project."""
