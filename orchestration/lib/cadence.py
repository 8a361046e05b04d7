"""When things run: each source's load cadence, how late a load may be, the marts' pace, retries of loads.

One table for what the schedules (``defs/schedules.py``), the freshness policies of the raw assets and the
automation condition of the models (``defs/automation.py``) must agree on: a source loaded hourly is late
after two hours, not after five minutes.

The schedules run in ``$JW_SCHEDULE_TIMEZONE`` (an IANA zone, default ``Europe/Berlin``): "03:00" is the
business's night, and Dagster moves it with daylight saving time. A zone Dagster cannot read fails loading
the definitions with the variable's name in the message, not a schedule that silently never ticks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dagster as dg

TIMEZONE_VARIABLE = "JW_SCHEDULE_TIMEZONE"
DEFAULT_TIMEZONE = "Europe/Berlin"

FULL_BUILD_CRON = "0 3 * * *"  # the daily full build: every source, every model, the serving copy
# The models follow their sources at most once per window of this cron (see marts_follow_sources): at half
# past, after the hourly API loads (minutes 0 to 15) landed, so one build takes them all.
MARTS_CRON = "30 * * * *"


@dataclass(frozen=True)
class Cadence:
    cron: str  # when the source is loaded
    fail_after: timedelta  # no load for this long: the source's assets fail their freshness policy
    warn_after: timedelta  # ... and warn from here on
    description: str


# Keys: ingestion.config.SOURCE_NAMES. The hourly loads are staggered: they share the single-writer pool.
CADENCES: dict[str, Cadence] = {
    "shop": Cadence("0 * * * *", timedelta(hours=2), timedelta(minutes=75), "hourly at :00 (shop API)"),
    "esp": Cadence("5 * * * *", timedelta(hours=2), timedelta(minutes=75), "hourly at :05 (ESP API)"),
    "social": Cadence("10 * * * *", timedelta(hours=2), timedelta(minutes=75), "hourly at :10 (social API)"),
    "loyalty": Cadence("15 * * * *", timedelta(hours=2), timedelta(minutes=75), "hourly at :15 (loyalty database)"),
    "iot": Cadence("*/5 * * * *", timedelta(minutes=15), timedelta(minutes=10), "every 5 minutes (IoT drops)"),
    "history": Cadence("0 2 * * *", timedelta(hours=26), timedelta(hours=25), "daily at 02:00 (order history files)"),
}


def schedule_timezone() -> str:
    """``$JW_SCHEDULE_TIMEZONE`` (default Europe/Berlin), checked: an unknown zone raises ``ValueError``."""
    name = os.environ.get(TIMEZONE_VARIABLE, "").strip() or DEFAULT_TIMEZONE
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(
            f"{TIMEZONE_VARIABLE}={name!r} is not an IANA time zone (such as Europe/Berlin or UTC): "
            "the schedules cannot run in it."
        ) from error
    return name


def freshness_policy(source: str) -> dg.FreshnessPolicy:
    """How late a load of ``source`` may be. Dagster's freshness daemon (part of `make ui`'s daemon) evaluates it
    every 30 s and shows the asset Fresh, Warning or Failing (Degraded) in the UI; an asset never loaded is Unknown."""
    cadence = CADENCES[source]
    return dg.FreshnessPolicy.time_window(fail_window=cadence.fail_after, warn_window=cadence.warn_after)


# A failed load is tried again three times, 15, 30 and 60 s later (each +- up to half of it, so that loads that
# failed together do not retry together): a source system that restarts or a network blip costs one retry,
# not an hour's data. Errors no retry can mend (refused credentials, a missing database) fail at once:
# see orchestration.defs.ingestion.permanent_failure.
INGESTION_RETRY_POLICY = dg.RetryPolicy(
    max_retries=3, delay=15, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


def marts_follow_sources() -> dg.AutomationCondition:
    """Rebuild after a parent changed, at most once per hour (``MARTS_CRON``): eager, debounced by a cron tick.

    Why not ``eager()``: the IoT drops land every 5 minutes and a dbt build of everything downstream of them (the
    device features, customer_360, the serving copy) takes about 100 s in the single-writer pool: eager would keep
    the warehouse busy a third of the time and the hourly loads queued behind it. Why not ``on_cron()``: it waits
    until *all* parents updated since the tick, so a mart reading the daily order history would follow the hourly
    sources once a day only.

    This condition is true when (1) some parent was updated (or is requested in the same tick) since this asset
    was last requested or built, (2) a tick of ``MARTS_CRON`` passed since then too, and (3) no parent is missing
    or running and the asset is not running. Every asset downstream of the changed sources is requested in the
    same tick (their parents "will be requested"), so the automation sensor launches one dbt run of exactly that
    subset, with its dbt tests (the blocking checks ride along); the models of a source that did not change are
    left alone. The daily full build counts as a build: nothing is requested again after it until a source changes.
    """
    cron_passed = dg.AutomationCondition.cron_tick_passed(MARTS_CRON, schedule_timezone())
    return (
        dg.AutomationCondition.in_latest_time_window()
        & (dg.AutomationCondition.newly_missing() | dg.AutomationCondition.any_deps_updated()).since_last_handled()
        & cron_passed.since_last_handled()
        & ~dg.AutomationCondition.any_deps_missing()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label(f"after a parent changed, once an hour at most (ticks {MARTS_CRON})")
