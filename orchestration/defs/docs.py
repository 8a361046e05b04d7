"""Serving: the dbt docs site after every build, and the dbt exposures (the dashboard's pages) at the end of the lineage.

dagster-dbt makes assets of models, seeds and snapshots only: an exposure becomes an asset spec here, keyed
``["dashboard", <page>]`` (or by its ``config.meta.dagster.asset_key``), depending on the marts it reads. An
exposure whose asset key belongs to an asset defined in Python (the exports: ``serving_copy``) gets no spec of its
own: that asset is the export.
"""


import json
from typing import Any, Mapping

import dagster as dg

from ingestion.config import warehouse_path
from orchestration.lib.cadence import marts_follow_sources
from orchestration.lib.constants import WAREHOUSE_POOL
from orchestration.lib.dbt import build_target_path, dbt_project, ensure_manifest
from orchestration.lib.translators import WarehouseDbtTranslator
from orchestration.lib.warehouse_lock import retry_on_lock_conflict

SERVING_GROUP = "serving"
PYTHON_EXPORTS = {dg.AssetKey("serving_copy")}  # exposures keyed so are assets written in Python, not specs here


def _manifest() -> Mapping[str, Any]:
    return json.loads(ensure_manifest().read_text())


def leaf_model_keys(manifest: Mapping[str, Any]) -> list[dg.AssetKey]:
    """Keys of the dbt models no other model or seed reads: the docs run after them, hence after every model."""
    translator = WarehouseDbtTranslator()
    models = {uid for uid, n in manifest["nodes"].items() if n["resource_type"] == "model"}
    read = {parent for uid in models for parent in manifest["nodes"][uid]["depends_on"]["nodes"]}
    return sorted(
        (translator.get_asset_spec(manifest, uid, dbt_project).key for uid in models - read),
        key=lambda k: k.to_user_string(),
    )


def exposure_key(exposure: Mapping[str, Any]) -> dg.AssetKey:
    meta = {**(exposure.get("meta") or {}), **((exposure.get("config") or {}).get("meta") or {})}
    key = (meta.get("dagster") or {}).get("asset_key")
    return dg.AssetKey(key) if key else dg.AssetKey(["dashboard", exposure["name"]])


def exposure_specs(manifest: Mapping[str, Any]) -> list[dg.AssetSpec]:
    """One spec per dbt exposure (but the exports written by a Python asset), after the models it depends on."""
    translator = WarehouseDbtTranslator()
    specs = []
    for exposure in manifest["exposures"].values():
        key = exposure_key(exposure)
        if key in PYTHON_EXPORTS:
            continue
        deps = [translator.get_asset_spec(manifest, uid, dbt_project).key for uid in exposure["depends_on"]["nodes"]]
        owner = (exposure.get("owner") or {}).get("email")
        specs.append(
            dg.AssetSpec(
                key=key,
                deps=deps,
                description=exposure.get("description") or exposure.get("label"),
                group_name=SERVING_GROUP,
                kinds={"streamlit"} if exposure["type"] == "dashboard" else {exposure["type"]},
                owners=[owner] if owner else [],
                metadata={
                    **({"url": dg.MetadataValue.url(exposure["url"])} if exposure.get("url") else {}),
                    "dbt/exposure": exposure["unique_id"],
                    "dbt/exposure_type": exposure["type"],
                },
            )
        )
    return specs


def _docs_asset(deps: list[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(
        name="dbt_docs",
        group_name=SERVING_GROUP,
        pool=WAREHOUSE_POOL,  # dbt opens the warehouse read-write to read its catalog
        kinds={"dbt"},
        deps=deps,
        automation_condition=marts_follow_sources(),  # after the models it reads changed (defs/automation.py)
        description=(
            "The dbt docs site (`dbt docs generate`: models, columns, tests, lineage to the exposures, the warehouse's "
            "column types) in $JW_DATA_DIR/dbt_docs/ (index.html, manifest.json, catalog.json). `journey docs --serve` "
            "serves it."
        ),
    )
    def dbt_docs(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        from orchestration.docs import generate_docs

        target = build_target_path("dbt_docs", context.run.run_id)
        with retry_on_lock_conflict(context):
            site = generate_docs(warehouse_path(), target=target, log=context.log)
        context.log.info(f"dbt docs: {site.nodes} nodes, {site.catalogued} relations catalogued in {site.seconds:.1f} s -> {site.path}")
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(site.path)),
                "index": dg.MetadataValue.path(str(site.path / "index.html")),
                "nodes_documented": site.nodes,
                "relations_catalogued": site.catalogued,
                "seconds": round(site.seconds, 1),
            }
        )

    return dbt_docs


@dg.definitions
def docs() -> dg.Definitions:
    manifest = _manifest()
    pages = [dg.AssetsDefinition(specs=[spec]) for spec in exposure_specs(manifest)]  # external: nothing runs them
    return dg.Definitions(assets=[_docs_asset(leaf_model_keys(manifest)), *pages])
