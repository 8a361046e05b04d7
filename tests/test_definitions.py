"""Snapshot and shape of the Dagster definitions: one lineage graph, every writer in the warehouse pool."""

import dagster as dg
import pytest

from orchestration.lib.constants import WAREHOUSE_POOL

RAW_ASSETS = [
    "esp/campaigns", "esp/campaigns__quarantine", "esp/events", "esp/events__quarantine", "esp/profiles",
    "esp/profiles__quarantine",
    "history/orders", "history/orders__quarantine",
    "iot/device_consents", "iot/devices", "iot/devices__quarantine", "iot/readings", "iot/readings__quarantine",
    "loyalty/cards", "loyalty/cards__quarantine", "loyalty/consents", "loyalty/consents__quarantine", "loyalty/members", "loyalty/members__quarantine",
    "loyalty/points", "loyalty/points__quarantine", "loyalty/receipts", "loyalty/receipts__quarantine",
    "shop/abandoned_checkouts", "shop/abandoned_checkouts__lines", "shop/abandoned_checkouts__quarantine",
    "shop/customers", "shop/customers__quarantine", "shop/events", "shop/events__quarantine",
    "shop/orders", "shop/orders__lines", "shop/orders__quarantine", "shop/reviews", "shop/reviews__quarantine",
    "shop/products", "shop/products__quarantine", "shop/products__variants",
    "social/interactions", "social/interactions__quarantine", "social/posts", "social/posts__quarantine",
]  # fmt: skip
MODEL_ASSETS = [
    "intermediate/int_attribution__channel_paths", "intermediate/int_attribution__conversion_paths", "intermediate/int_attribution__eligible_touchpoints",
    "intermediate/int_clv__backtest", "intermediate/int_clv__customer_predictions", "intermediate/int_clv__fits",
    "intermediate/int_attribution__markov", "intermediate/int_attribution__markov_removal_effects", "intermediate/int_attribution__rule_based",
    "intermediate/int_experience__text_sentiment",
    "intermediate/int_identity__components", "intermediate/int_identity__edges", "intermediate/int_identity__identifier_changes",
    "intermediate/int_identity__identifier_map",
    "pii/int_identity__match_records", "intermediate/int_identity__person_registry", "intermediate/int_identity__probabilistic_links",
    "intermediate/int_identity__records", "intermediate/int_iot__device_consent_periods", "intermediate/int_journey__actor_touchpoints", "intermediate/int_journey__stitched_events",
    "intermediate/int_journey__storefront_events", "intermediate/int_journey__touchpoint_sessions", "intermediate/int_touchpoints",
    "intermediate/int_value__as_of", "intermediate/int_value__people", "intermediate/int_value__purchase_days",
    "intermediate/int_value__transactions",
    "marts/attribution", "marts/campaign_performance", "marts/channel_daily",
    "marts/clv_backtest", "marts/clv_model_runs", "marts/customer_clv",
    "marts/customer_engagement", "marts/service_alerts", "marts/social_engagement",
    "marts/customer_360", "marts/identity_merge_log", "marts/identity_oversized_components",
    "marts/identity_review", "marts/journey_sessions", "marts/touchpoints",
    "marts/device_daily_features",
    "marts/kpi_daily", "marts/conversion_paths", "marts/funnel_daily", "marts/sentiment_daily",  # reporting (dashboard)
    "marts/campaign_evaluation",
    "marts/consent_current", "marts/consent_events",
    "marts/cohort_retention", "marts/customer_lifecycle_history", "marts/customer_rfm", "marts/lifecycle_transitions",
    "staging/stg_esp__campaigns", "pii/stg_esp__events", "pii/stg_esp__profiles", "staging/stg_esp__quarantine",
    "pii/stg_history__orders", "staging/stg_history__orders_quarantine",
    "staging/stg_iot__device_consents", "pii/stg_iot__devices", "staging/stg_iot__readings", "staging/stg_iot__readings_quarantine",
    "pii/stg_loyalty__cards", "staging/stg_loyalty__consents", "pii/stg_loyalty__members", "staging/stg_loyalty__points",
    "pii/stg_loyalty__receipts",
    "staging/stg_shop__abandoned_checkout_lines", "pii/stg_shop__abandoned_checkouts", "pii/stg_shop__customers",
    "staging/stg_shop__events", "staging/stg_shop__order_lines", "staging/stg_shop__orders", "staging/stg_shop__reviews",
    "pii/stg_social__interactions", "staging/stg_social__posts",
    "pii/person_contacts", "pii/person_identifiers",
    # activation (issue 10, real-time offers)
    "staging/stg_shop__products", "staging/stg_shop__product_variants",
    "marts/person_source_ids", "marts/product_catalog", "marts/person_product_purchases", "marts/product_similarity",
]  # fmt: skip
# the shop's catalogue: products, not people (it feeds the offers, not customer_360)
CATALOGUE_ASSETS = ["shop/products", "shop/products__variants"]
# activation exports: they read the serving copy and write the activation store, never the warehouse (no pool)
ACTIVATION_ASSETS = ["exports/cart_abandonment_batch", "exports/cart_abandonment_release"]
SEED_ASSETS = ["seeds/identity_blocklist"]
# dbt exposures (models/exposures.yml): the dashboard's pages, after the marts they read; not materializable
DASHBOARD_ASSETS = [
    "dashboard/overview", "dashboard/channels", "dashboard/journeys", "dashboard/customer_value", "dashboard/campaigns",
    "dashboard/cohorts", "dashboard/experience", "dashboard/customer_lookup",
]  # fmt: skip
SERVING_ASSETS = ["dbt_docs", "serving_copy"]
PRIVACY_ASSETS = ["raw_retention"]
SCHEDULES = {"raw_retention_daily": ("30 3 * * *", {"raw_retention"})}
# issue 10, planned campaigns (H4): the activation marts and the campaign / ad audience exports after the serving copy
MODEL_ASSETS += [
    "intermediate/int_activation__segment_inputs", "marts/segment_membership", "marts/segment_members",
    "marts/campaign_assignments", "marts/campaign_plan",
]  # fmt: skip
ACTIVATION_ASSETS += ["exports/campaign_batch", "exports/campaign_release", "exports/ad_audience_batch", "exports/ad_audience_release"]
# Schedules and automation (orchestration/defs/schedules.py): the daily full build, each source on its cadence
ALL_MATERIALIZABLE = set(RAW_ASSETS + MODEL_ASSETS + SEED_ASSETS + PRIVACY_ASSETS + SERVING_ASSETS + ACTIVATION_ASSETS) - {
    "exports/cart_abandonment_batch", "exports/cart_abandonment_release"  # launched by cart_abandonment_sensor
}
SCHEDULES |= {"daily_full_build": ("0 3 * * *", ALL_MATERIALIZABLE)} | {
    f"ingest_{source}_schedule": (cron, {a for a in RAW_ASSETS if a.startswith(source + "/")})
    for source, cron in {"shop": "0 * * * *", "esp": "5 * * * *", "social": "10 * * * *", "loyalty": "15 * * * *",
                         "iot": "*/5 * * * *", "history": "0 2 * * *"}.items()
}  # fmt: skip
SCHEDULE_TIMEZONES = {"raw_retention_daily": "UTC"}  # the others: JW_SCHEDULE_TIMEZONE, default Europe/Berlin
CUSTOMER_360 = dg.AssetKey(["marts", "customer_360"])


@pytest.fixture(scope="module")
def defs():
    from orchestration.definitions import defs

    return defs


@pytest.fixture(scope="module")
def graph(defs):
    return defs.resolve_asset_graph()


def test_asset_keys_snapshot(graph):
    assert sorted(k.to_user_string() for k in graph.get_all_asset_keys()) == sorted(
        RAW_ASSETS + MODEL_ASSETS + SEED_ASSETS + PRIVACY_ASSETS + DASHBOARD_ASSETS + SERVING_ASSETS + ACTIVATION_ASSETS
    )


def test_schedules_snapshot(defs):
    got = {
        schedule.name: (
            schedule.cron_schedule,
            {k.to_user_string() for k in defs.resolve_job_def(schedule.job_name).asset_layer.selected_asset_keys},
        )
        for schedule in defs.schedules
    }
    assert got == SCHEDULES
    assert {s.name: s.execution_timezone for s in defs.schedules} == {n: SCHEDULE_TIMEZONES.get(n, "Europe/Berlin") for n in SCHEDULES}


def test_retention_is_a_privacy_asset_after_the_event_loads(graph):
    from ingestion.retention import EVENT_TABLES

    node = graph.get(dg.AssetKey("raw_retention"))
    assert node.group_name == "privacy" and node.kinds == {"duckdb"}
    assert node.parent_keys == {dg.AssetKey([schema, table]) for schema, table in EVENT_TABLES}


def test_the_serving_copy_follows_every_model_of_marts_and_pii(graph):
    node = graph.get(dg.AssetKey("serving_copy"))
    assert node.group_name == "serving" and node.kinds == {"duckdb"}
    assert {k.to_user_string() for k in node.parent_keys} == {m for m in MODEL_ASSETS if m.startswith(("marts/", "pii/"))}
    assert {k.to_user_string() for k in node.child_keys} <= set(ACTIVATION_ASSETS)  # readers of the copy only


def test_groups_and_kinds_snapshot(graph):
    specs = {key.to_user_string(): graph.get(key) for key in graph.get_all_asset_keys()}
    groups = {name: node.group_name for name, node in specs.items()}
    assert {g for n, g in groups.items() if n in RAW_ASSETS} == {f"raw_{s}" for s in ("esp", "history", "iot", "loyalty", "shop", "social")}
    assert all(groups[n] == f"raw_{n.split('/')[0]}" for n in RAW_ASSETS)
    assert all(groups[n] == n.split("/")[0] for n in MODEL_ASSETS)
    assert all(specs[n].kinds == {"dlt", "duckdb"} for n in RAW_ASSETS)
    assert all(specs[n].kinds == {"dbt", "duckdb"} for n in MODEL_ASSETS)


def test_every_asset_is_materializable_but_the_dashboard_pages(graph):
    external = {key.to_user_string() for key in graph.get_all_asset_keys() if not graph.get(key).is_materializable}
    assert external == set(DASHBOARD_ASSETS)


def test_staging_models_depend_on_the_dlt_assets_that_load_their_tables(graph):
    assert graph.get(dg.AssetKey(["pii", "stg_shop__customers"])).parent_keys == {dg.AssetKey(["shop", "customers"])}
    # lines are staged on their own (an orphan is kept and reported by a warn test, never joined away)
    assert graph.get(dg.AssetKey(["staging", "stg_shop__order_lines"])).parent_keys == {dg.AssetKey(["shop", "orders__lines"])}
    assert graph.get(dg.AssetKey(["iot", "readings__quarantine"])).parent_keys == {dg.AssetKey(["iot", "readings"])}
    assert graph.get(dg.AssetKey(["iot", "devices__quarantine"])).parent_keys == {dg.AssetKey(["iot", "devices"])}


# Quarantine rows describe bad input, not people: they end in their own staging model.
@pytest.mark.parametrize("raw", [r for r in RAW_ASSETS if not r.endswith("__quarantine") and r not in CATALOGUE_ASSETS])
def test_every_source_table_reaches_customer_360(graph, raw):
    key = dg.AssetKey.from_user_string(raw)
    seen, frontier = set(), [key]
    while frontier:
        node = frontier.pop()
        if node == CUSTOMER_360:
            return
        seen.add(node)
        frontier.extend(child for child in graph.get(node).child_keys if child not in seen)
    pytest.fail(f"{raw} does not reach {CUSTOMER_360.to_user_string()}")


def test_every_warehouse_writer_is_in_the_single_writer_pool(defs):
    activation = {dg.AssetKey.from_user_string(k) for k in ACTIVATION_ASSETS}
    assert all(a.node_def.pool is None for a in defs.assets if a.is_executable and a.keys <= activation)
    # not the dashboard pages (external), nor the activation exports (no warehouse)
    assets = [a for a in defs.assets if a.is_executable and not a.keys <= activation]
    assert sorted(a.node_def.name for a in assets) == [
        "dbt_docs", "ingest_esp", "ingest_history", "ingest_iot", "ingest_loyalty", "ingest_shop", "ingest_social",
        "journey_dbt_models", "raw_retention", "serving_copy",
    ]  # fmt: skip
    assert {a.node_def.pool for a in assets} == {WAREHOUSE_POOL}


def test_dbt_tests_are_blocking_asset_checks(graph, defs):
    import json

    from orchestration.lib.dbt import dbt_project

    specs = [spec for a in defs.assets for spec in a.check_specs]
    nodes = json.loads(dbt_project.manifest_path.read_text())["nodes"].values()
    model_tests = [
        n for n in nodes
        if n["resource_type"] == "test" and any(d.startswith(("model.", "seed.")) for d in n["depends_on"]["nodes"])
    ]  # fmt: skip
    assert len(specs) == len(model_tests)  # every dbt test of a model or seed is a check (source tests run in dbt alone)
    # a failing test stops everything downstream, except warn-severity ones (orphans, reports): they only report
    warn = {n["name"] for n in model_tests if n["config"]["severity"].lower() == "warn"}
    assert {spec.name for spec in specs if not spec.blocking} == warn
    assert "esp_events_without_an_email" in warn
    assert "relationships_stg_social__interactions_post_id__post_id__ref_stg_social__posts_" in warn
    assert dg.AssetCheckKey(CUSTOMER_360, "unique_customer_360_person_id") in {s.key for s in specs}


def test_instance_config_limits_the_pool_to_one(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    from orchestration.instance import ensure_instance_home

    ensure_instance_home()
    with dg.DagsterInstance.get() as instance:
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1


def test_the_markov_python_model_sits_in_the_lineage_between_paths_and_attribution(graph):
    markov = graph.get(dg.AssetKey(["intermediate", "int_attribution__markov_removal_effects"]))
    assert markov.parent_keys == {dg.AssetKey(["intermediate", "int_attribution__channel_paths"])}
    assert dg.AssetKey(["intermediate", "int_attribution__markov"]) in markov.child_keys
    assert dg.AssetKey(["marts", "attribution"]) in graph.get(dg.AssetKey(["intermediate", "int_attribution__markov"])).child_keys
