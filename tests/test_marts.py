"""Marts as their readers see them: contracts, documented columns, row counts and previews without personal data."""

import json

import dagster as dg
import duckdb
import pytest

from orchestration.lib.dbt import dbt_project, ensure_manifest
from orchestration.lib.mart_metadata import mart_metadata, pii_columns


def mart_nodes() -> list[dict]:
    manifest = json.loads(ensure_manifest().read_text())
    return [n for n in manifest["nodes"].values() if n["resource_type"] == "model" and n["fqn"][1] == "marts"]


def test_every_mart_has_an_enforced_contract_and_every_column_documented():
    marts = mart_nodes()
    assert {"customer_360"} <= {n["name"] for n in marts}
    for node in marts:
        assert node["config"]["contract"]["enforced"], f"{node['name']}: no enforced contract"
        assert node["description"].strip(), f"{node['name']}: no description"
        for name, column in node["columns"].items():
            assert column.get("data_type"), f"{node['name']}.{name}: no data_type"
            assert column.get("description", "").strip(), f"{node['name']}.{name}: not described"


def test_personal_columns_are_marked_in_the_manifest_and_live_only_in_pii():
    manifest = dbt_project.manifest_path if dbt_project.manifest_path.exists() else ensure_manifest()
    hidden = pii_columns(manifest)
    assert {"email", "phone", "first_name", "last_name", "postcode", "city", "social_handle"} <= hidden["person_contacts"]
    assert {"identifier_value"} == hidden["person_identifiers"]
    nodes = [n for n in json.loads(manifest.read_text())["nodes"].values() if n["resource_type"] == "model"]
    marked_outside = [n["name"] for n in nodes if hidden[n["name"]] and n["config"]["schema"] != "pii"]
    assert marked_outside == []
    customer_360 = next(n for n in nodes if n["name"] == "customer_360")
    assert not {"email", "first_name", "last_name", "primary_social_handle"} & set(customer_360["columns"])


def test_mart_metadata_counts_rows_and_previews_without_hidden_columns():
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute(
        "create table marts.people as select 'p_' || i as person_id, 'x' || i || '@mail.test' as email, "
        "cast(i * 1.5 as decimal(12, 2)) as revenue, timestamptz '2026-09-01 10:00:00+00' as seen_at from range(12) t(i)"
    )
    metadata = mart_metadata(con, "people", {"email"})
    assert metadata["dagster/row_count"] == dg.MetadataValue.int(12)
    preview = metadata["preview"]
    assert [c.name for c in preview.schema.columns] == ["person_id", "revenue", "seen_at"]
    assert len(preview.records) == 5
    assert all("@" not in str(v) for r in preview.records for v in r.data.values())
    assert preview.records[0].data["seen_at"].endswith("+00:00")
    assert "email" in metadata["preview_hides"].value


@pytest.mark.parametrize("hidden", [set(), {"person_id", "email", "revenue", "seen_at"}])
def test_mart_metadata_edge_cases(hidden):
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute("create table marts.empty (person_id varchar, email varchar, revenue decimal(12, 2), seen_at timestamptz)")
    metadata = mart_metadata(con, "empty", hidden)
    assert metadata["dagster/row_count"] == dg.MetadataValue.int(0)
    if len(hidden) == 4:
        assert "preview" not in metadata
    else:
        assert metadata["preview"].records == []
