"""How dlt resources and dbt nodes become Dagster assets, so that both meet in one lineage graph.

dlt resource ``<source>.<resource>`` -> asset key ``[<source>, <resource>]``, which is exactly the key
dagster-dbt gives the dbt source ``source('<source>', '<resource>')``: dbt staging models therefore
depend on the dlt assets that load their tables. Tables a resource writes besides its own (dlt child
tables such as ``orders__lines``, the quarantine) get specs of their own from ``derived_table_spec``, so
each dbt source has exactly one producing asset.

Every dbt model follows its sources by declarative automation (``cadence.marts_follow_sources``: after a parent
changed, at most once an hour); seeds change with the code, and the daily full build builds them.
"""

from __future__ import annotations

from typing import Any, Mapping

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings
from dagster_dlt import DagsterDltTranslator
from dagster_dlt.translator import DltResourceTranslatorData

from orchestration.lib.cadence import marts_follow_sources

RAW_KINDS = {"dlt", "duckdb"}


class WarehouseDltTranslator(DagsterDltTranslator):
    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        spec = super().get_asset_spec(data)
        source = data.resource.source_name
        return spec.replace_attributes(
            key=dg.AssetKey([source, data.resource.name]),
            deps=[],
            group_name=f"raw_{source}",
            kinds=RAW_KINDS,
        )

    def derived_table_spec(self, source: str, table: str, parent: str) -> dg.AssetSpec:
        """The spec of a table that resource ``parent`` of ``source`` writes besides its own."""
        return dg.AssetSpec(
            key=dg.AssetKey([source, table]),
            deps=[dg.AssetKey([source, parent])],
            description=f"Written by dlt with `{source}.{parent}`.",
            group_name=f"raw_{source}",
            kinds=RAW_KINDS,
            skippable=True,
        )


def model_description(node: Mapping[str, Any]) -> str:
    """A dbt node's description (its YAML ``description``), or a line naming it when it has none."""
    return (node.get("description") or "").strip() or f"dbt {node['resource_type']} {node['name']} (no description in its YAML)"


class WarehouseDbtTranslator(DagsterDbtTranslator):
    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: Any) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        node = manifest["nodes"].get(unique_id) or manifest["sources"].get(unique_id) or {}
        if node.get("resource_type") in ("model", "seed", "snapshot"):
            # the node's description from its YAML, not dagster-dbt's default (the description, then its raw SQL)
            spec = spec.replace_attributes(description=model_description(node))
        if node.get("resource_type") == "model":
            # fqn: [project, <layer folder>, ..., model]; a model at the root of models/ has no layer
            layer = node["fqn"][1] if len(node["fqn"]) > 2 else "models"
            if (node.get("config") or {}).get("schema") == "pii":  # direct identifiers, apart: one group to see them all
                layer = "pii"
            spec = spec.replace_attributes(group_name=layer, kinds={"dbt", "duckdb"})
        if node.get("resource_type") in ("model", "snapshot"):
            spec = spec.replace_attributes(automation_condition=marts_follow_sources())
        return spec
