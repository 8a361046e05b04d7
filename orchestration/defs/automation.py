"""Declarative automation: the models, the dbt docs and the serving copy follow their sources.

Each of them carries ``cadence.marts_follow_sources()`` (the dbt models through ``WarehouseDbtTranslator``;
``serving_copy`` and ``dbt_docs`` in their modules): rebuilt after a parent changed, at most once per hour, so the
IoT drops every 5 minutes do not keep a ~100 s dbt build running all the time (the reasons are in that function's
docstring). A condition does nothing by itself: the sensor below evaluates it every 30 s and launches the runs.
It is RUNNING by default: Dagster's implicit automation sensor is created stopped, and then nothing follows.

The sensor targets only these assets: the exports' assets (``exports/*``) are launched by their own sensors and
jobs, and an asset may be targeted by one automation sensor only.
"""

import dagster as dg

FOLLOWERS = (dg.AssetSelection.kind("dbt") | dg.AssetSelection.assets("serving_copy")) - dg.AssetSelection.key_prefixes(["exports"])

marts_follow_sources_sensor = dg.AutomationConditionSensorDefinition(
    name="marts_follow_sources",
    target=FOLLOWERS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description=(
        "Builds the dbt models (with their tests), the dbt docs and the serving copy after their sources were "
        "loaded, at most once an hour each (orchestration/lib/cadence.py: marts_follow_sources)."
    ),
)
