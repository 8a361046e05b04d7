"""Schedules, automation, freshness and retries of the Dagster definitions: fast, no dbt build.

The automation and freshness tests evaluate the real definitions against an ephemeral Dagster instance into
which materializations are reported, as the loads and builds would write them.
"""

import asyncio
import datetime as dt

import dagster as dg
import pytest

from ingestion.config import SOURCE_NAMES
from orchestration.lib.cadence import CADENCES, MARTS_CRON

UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def defs():
    from orchestration.definitions import defs

    return defs


@pytest.fixture(scope="module")
def graph(defs):
    return defs.resolve_asset_graph()


def raw_keys(graph) -> set[dg.AssetKey]:
    return {key for key in graph.get_all_asset_keys() if key.path[0] in SOURCE_NAMES}


def selected(defs, job_name: str) -> set[dg.AssetKey]:
    return set(defs.resolve_job_def(job_name).asset_layer.selected_asset_keys)


def test_the_daily_full_build_runs_everything_at_three_in_berlin(defs, graph):
    schedule = defs.resolve_schedule_def("daily_full_build")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 3 * * *", "Europe/Berlin")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    real_time = {dg.AssetKey(["exports", "cart_abandonment_batch"]), dg.AssetKey(["exports", "cart_abandonment_release"])}
    materializable = {k for k in graph.get_all_asset_keys() if graph.get(k).is_materializable} - real_time
    assert selected(defs, schedule.job_name) == materializable  # the planned exports end the nightly build
    assert {dg.AssetKey("serving_copy"), dg.AssetKey(["marts", "customer_360"]), dg.AssetKey(["iot", "readings"]),
            dg.AssetKey(["exports", "campaign_release"]), dg.AssetKey(["exports", "ad_audience_release"])} <= materializable  # fmt: skip


@pytest.mark.parametrize("source", SOURCE_NAMES)
def test_each_source_is_loaded_on_its_own_cadence(defs, graph, source):
    schedule = defs.resolve_schedule_def(f"ingest_{source}_schedule")
    assert schedule.cron_schedule == CADENCES[source].cron and schedule.execution_timezone == "Europe/Berlin"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert selected(defs, schedule.job_name) == {k for k in raw_keys(graph) if k.path[0] == source}


def test_cadences_as_the_issue_asks():
    # hourly for the APIs (and the loyalty database), every 5 minutes for the IoT drops, daily for the history
    assert {s: CADENCES[s].cron.split()[1:] for s in ("shop", "esp", "social", "loyalty")} == {
        s: ["*", "*", "*", "*"] for s in ("shop", "esp", "social", "loyalty")
    }
    assert CADENCES["iot"].cron == "*/5 * * * *"
    assert CADENCES["history"].cron.split()[2:] == ["*", "*", "*"] and CADENCES["history"].cron.split()[1] != "*"


def test_every_schedule_and_sensor_is_on_by_default(defs):
    assert {s.name: s.default_status for s in defs.schedules} == {s.name: dg.DefaultScheduleStatus.RUNNING for s in defs.schedules}
    automation = [s for s in defs.sensors if isinstance(s, dg.AutomationConditionSensorDefinition)]
    assert [s.name for s in automation] == ["marts_follow_sources"]
    assert automation[0].default_status == dg.DefaultSensorStatus.RUNNING


def test_the_time_zone_is_a_setting_checked_at_load(monkeypatch):
    from orchestration.defs.schedules import schedules

    monkeypatch.setenv("JW_SCHEDULE_TIMEZONE", "America/New_York")
    zones = {s.name: s.execution_timezone for s in schedules().schedules}
    assert set(zones.values()) == {"America/New_York"} and "daily_full_build" in zones

    monkeypatch.setenv("JW_SCHEDULE_TIMEZONE", "Mars/Olympus_Mons")
    with pytest.raises(ValueError, match="JW_SCHEDULE_TIMEZONE='Mars/Olympus_Mons' is not an IANA time zone"):
        schedules()


def test_every_source_asset_has_a_freshness_policy_by_cadence(graph):
    assert len(raw_keys(graph)) >= 39
    for key in raw_keys(graph):
        policy = graph.get(key).freshness_policy
        assert isinstance(policy, dg.FreshnessPolicy), key
        assert policy.fail_window.to_timedelta() == CADENCES[key.path[0]].fail_after, key
    windows = {s: CADENCES[s].fail_after for s in SOURCE_NAMES}
    assert windows["iot"] <= dt.timedelta(minutes=15) and windows["shop"] <= dt.timedelta(hours=2)
    assert windows["history"] > dt.timedelta(hours=24)
    assert all(graph.get(k).freshness_policy is None for k in graph.get_all_asset_keys() if k not in raw_keys(graph))


def test_every_ingestion_asset_retries_with_exponential_backoff_and_jitter(defs):
    loads = [a for a in defs.assets if a.is_executable and a.node_def.name.startswith("ingest_")]
    assert sorted(a.node_def.name for a in loads) == sorted(f"ingest_{s}" for s in SOURCE_NAMES)
    for asset in loads:
        policy = asset.op.retry_policy
        assert policy.max_retries >= 2 and policy.delay > 0, asset.node_def.name
        assert (policy.backoff, policy.jitter) == (dg.Backoff.EXPONENTIAL, dg.Jitter.PLUS_MINUS)


def test_errors_no_retry_mends_fail_at_once():
    import requests

    from orchestration.defs.ingestion import permanent_failure

    def http_error(status: int) -> Exception:
        response = requests.Response()
        response.status_code = status
        try:
            raise RuntimeError("extraction failed") from requests.HTTPError(f"{status}", response=response)
        except RuntimeError as error:
            return error

    assert permanent_failure(http_error(401)) == "HTTP 401"
    assert permanent_failure(http_error(404)) == "HTTP 404"
    assert permanent_failure(http_error(429)) is None and permanent_failure(http_error(503)) is None
    assert permanent_failure(ConnectionError("Connection refused")) is None
    assert permanent_failure(Exception('FATAL:  database "loyalty_x" does not exist')).endswith("login refused)")
    assert permanent_failure(FileNotFoundError("no source systems at /tmp/x")).startswith("FileNotFoundError")


def test_models_and_what_follows_them_carry_the_automation_condition(graph):
    followers = [k for k in graph.get_all_asset_keys() if "dbt" in graph.get(k).kinds and graph.get(k).is_materializable]
    models = [k for k in followers if k.path[0] != "seeds" and k.to_user_string() != "dbt_docs"]
    assert len(models) >= 80
    for key in [*models, dg.AssetKey("serving_copy"), dg.AssetKey("dbt_docs")]:
        condition = graph.get(key).automation_condition
        assert condition is not None and MARTS_CRON in condition.get_label(), key
    assert all(graph.get(k).automation_condition is None for k in raw_keys(graph))  # the schedules load them


def report_materialized(instance: dg.DagsterInstance, keys) -> None:
    for key in keys:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key))


def requested(result) -> set[str]:
    return {r.key.to_user_string() for r in result.results if r.true_subset.size}


def test_the_marts_follow_a_load_once_within_the_hour(defs, graph):
    """A shop load requests what reads the shop (and not what reads only IoT), after the next tick, once."""
    instance = dg.DagsterInstance.ephemeral()
    report_materialized(instance, [k for k in graph.get_all_asset_keys() if graph.get(k).is_materializable])
    hour = dt.datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    start = hour + dt.timedelta(minutes=35)  # past the MARTS_CRON tick at :30 of this hour

    def evaluate(at, cursor):
        return dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=at, cursor=cursor)

    first = evaluate(start, None)
    assert requested(first) == set()  # everything was built: nothing to do

    report_materialized(instance, [dg.AssetKey(["shop", "orders"]), dg.AssetKey(["shop", "orders__lines"])])
    same_hour = evaluate(start + dt.timedelta(minutes=10), first.cursor)
    assert requested(same_hour) == set()  # built at most once per hour: waits for the next tick

    next_hour = evaluate(start + dt.timedelta(hours=1), same_hour.cursor)
    got = requested(next_hour)
    assert {"staging/stg_shop__orders", "staging/stg_shop__order_lines", "marts/customer_360", "serving_copy", "dbt_docs"} <= got
    assert "staging/stg_iot__readings" not in got and "pii/stg_esp__profiles" not in got  # sources that did not change
    assert not any(k.split("/")[0] in SOURCE_NAMES for k in got)  # loads are scheduled, never automated

    again = evaluate(start + dt.timedelta(hours=1, minutes=1), next_hour.cursor)
    assert requested(again) == set()  # nothing changed since: nothing requested again


def freshness(graph, instance, key: dg.AssetKey):
    """The freshness state Dagster's freshness daemon computes for ``key`` (its evaluator, on ``instance``)."""
    from dagster._core.definitions.freshness_evaluator import FRESHNESS_EVALUATORS_BY_POLICY_TYPE
    from dagster._core.loader import LoadingContextForTest

    node = graph.get(key)
    evaluator = FRESHNESS_EVALUATORS_BY_POLICY_TYPE[type(node.freshness_policy)]()
    return asyncio.run(evaluator.evaluate_freshness(context=LoadingContextForTest(instance), node=node))


def report_materialized_at(instance: dg.DagsterInstance, key: dg.AssetKey, when: dt.datetime) -> None:
    """A materialization of ``key`` recorded at ``when`` (as a load that ran then would have)."""
    from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData
    from dagster._core.instance.utils import RUNLESS_JOB_NAME, RUNLESS_RUN_ID

    event = DagsterEvent(
        event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
        job_name=RUNLESS_JOB_NAME,
        event_specific_data=StepMaterializationData(dg.AssetMaterialization(asset_key=key)),
    )
    instance.report_dagster_event(event, run_id=RUNLESS_RUN_ID, timestamp=when.timestamp())


def test_a_late_source_fails_its_freshness_policy(graph):
    from dagster._core.definitions.freshness import FreshnessState

    readings, orders = dg.AssetKey(["iot", "readings"]), dg.AssetKey(["history", "orders"])
    instance = dg.DagsterInstance.ephemeral()
    assert freshness(graph, instance, readings) == FreshnessState.UNKNOWN  # never loaded
    now = dt.datetime.now(UTC)
    # loaded 20 minutes ago: the IoT readings (every 5 minutes, late after 15) fail, the daily history is fresh
    report_materialized_at(instance, readings, now - dt.timedelta(minutes=20))
    report_materialized_at(instance, orders, now - dt.timedelta(minutes=20))
    assert freshness(graph, instance, readings) == FreshnessState.FAIL
    assert freshness(graph, instance, orders) == FreshnessState.PASS
    # 25 h 30 min ago: the history warns; 27 h ago: it fails
    report_materialized_at(instance, orders, now - dt.timedelta(hours=25, minutes=30))
    assert freshness(graph, instance, orders) == FreshnessState.WARN
    report_materialized_at(instance, orders, now - dt.timedelta(hours=27))
    assert freshness(graph, instance, orders) == FreshnessState.FAIL
    # a load now makes them fresh again
    report_materialized(instance, [readings, orders])
    assert freshness(graph, instance, readings) == freshness(graph, instance, orders) == FreshnessState.PASS
