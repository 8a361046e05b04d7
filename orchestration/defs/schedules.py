"""Schedules: the daily full build, and each source loaded on its own cadence (``orchestration.lib.cadence``).

All run in ``$JW_SCHEDULE_TIMEZONE`` (default Europe/Berlin) and are on by default: the daemon of `make ui` runs
them without anyone switching them on (turn one off in the UI, Automation tab, or ``dagster schedule stop``).
The models are not scheduled hourly: they follow the loads by declarative automation (``defs/automation.py``).
`journey run` and `journey demo` run the whole graph in their own process and never wait for a schedule.
"""

import dagster as dg

from ingestion.config import SOURCE_NAMES
from orchestration.lib.cadence import CADENCES, FULL_BUILD_CRON, schedule_timezone

# The cart-abandonment batches leave by their own sensor and job (orchestration/defs/activation.py); the planned
# campaigns and ad audiences (exports/campaign_*, exports/ad_audience_*) end the nightly build: after the serving
# copy, written held, validated by their blocking checks, released for the delivery worker in the same run.
REAL_TIME_EXPORTS = dg.AssetSelection.assets(
    dg.AssetKey(["exports", "cart_abandonment_batch"]), dg.AssetKey(["exports", "cart_abandonment_release"])
)


def full_build_job():
    return dg.define_asset_job(
        name="full_build",
        selection=dg.AssetSelection.all() - REAL_TIME_EXPORTS,
        description="Every source loaded, every dbt model built and tested, the dbt docs and the serving copy refreshed, the week's planned campaigns and ad audiences released to the outbox.",
    )


def ingestion_job(source: str):
    """The load of one source: its multi-asset ``ingest_<source>`` (group ``raw_<source>``, with its checks)."""
    return dg.define_asset_job(
        name=f"ingest_{source}_job",
        selection=dg.AssetSelection.groups(f"raw_{source}"),
        description=f"Loads source {source} (every table of ingest_{source}); the models follow by automation.",
    )


@dg.definitions
def schedules() -> dg.Definitions:
    """Built when the definitions load: ``$JW_SCHEDULE_TIMEZONE`` is read (and checked) then."""
    timezone = schedule_timezone()
    full = full_build_job()
    jobs = {source: ingestion_job(source) for source in SOURCE_NAMES}
    return dg.Definitions(
        jobs=[full, *jobs.values()],
        schedules=[
            dg.ScheduleDefinition(
                name="daily_full_build",
                job=full,
                cron_schedule=FULL_BUILD_CRON,
                execution_timezone=timezone,
                default_status=dg.DefaultScheduleStatus.RUNNING,
                description=f"Builds everything, planned exports included, every day at 03:00 ({timezone}).",
            ),
            *(
                dg.ScheduleDefinition(
                    name=f"ingest_{source}_schedule",
                    job=job,
                    cron_schedule=CADENCES[source].cron,
                    execution_timezone=timezone,
                    default_status=dg.DefaultScheduleStatus.RUNNING,
                    description=f"Loads {source} {CADENCES[source].description}, {timezone}.",
                )
                for source, job in jobs.items()
            ),
        ],
    )
