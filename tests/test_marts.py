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


def test_mart_metadata_carries_the_column_schema_with_types_and_descriptions():
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute("create table marts.people (person_id varchar not null, email varchar, revenue decimal(12, 2), seen_at timestamptz)")
    described = {"person_id": "The person.", "revenue": "Revenue so far [EUR]"}
    metadata = mart_metadata(con, "people", {"email"}, described)
    schema = metadata["dagster/column_schema"].schema
    assert [(c.name, c.type, c.description) for c in schema.columns] == [
        ("person_id", "varchar", "The person."), ("email", "varchar", None),  # the schema names every column
        ("revenue", "decimal(12,2)", "Revenue so far [EUR]"), ("seen_at", "timestamp with time zone", None),
    ]  # fmt: skip
    assert [c.constraints.nullable for c in schema.columns] == [False, True, True, True]


def test_every_mart_column_description_reaches_dagster():
    from orchestration.lib.mart_metadata import column_descriptions

    described = column_descriptions(dbt_project.manifest_path if dbt_project.manifest_path.exists() else ensure_manifest())
    for node in mart_nodes():
        assert set(described[node["name"]]) == {c.lower() for c in node["columns"]}
        assert all(described[node["name"]].values()), node["name"]
    assert described["customer_360"]["total_revenue"].endswith(" [EUR]")  # its unit (meta.unit) follows the description


def _plot_rows(markdown: str) -> dict[str, int]:
    """label -> value of the table under a plot."""
    rows = [line.split("|") for line in markdown.splitlines() if line.startswith("| ") and not line.startswith("| clv_12m from |") and not line.startswith("| day |")]
    return {cells[1].strip(): int(cells[2].strip().replace(",", "")) for cells in rows}


def test_sessions_per_day_plot_counts_every_session_by_utc_day():
    from orchestration.lib.mart_plots import mart_plots

    con = duckdb.connect()
    con.execute("set timezone = 'Europe/Berlin'")  # a local zone: days are still UTC days
    con.execute("create schema marts")
    con.execute(
        "create table marts.journey_sessions as select 's' || i as session_id, "
        "timestamptz '2026-09-01 00:30:00+00' + i * interval 7 hour as session_start, i % 3 = 0 as converted from range(20) t(i)"
    )
    plot = mart_plots(con, "journey_sessions")["plot/sessions_per_day"].value
    assert plot.startswith("![Sessions per day (UTC)](data:image/svg+xml;base64,")
    expected = dict(con.execute(
        "select strftime(cast(timezone('UTC', session_start) as date), '%m-%d'), count(*) from marts.journey_sessions group by 1"
    ).fetchall())  # fmt: skip
    assert _plot_rows(plot) == expected and sum(expected.values()) == 20
    assert "7 converting" in plot
    assert mart_plots(con, "customer_360") == {}


def test_clv_histogram_puts_every_customer_in_one_bin_and_the_tail_in_the_last():
    from orchestration.lib.mart_plots import mart_plots

    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute(
        "create table marts.customer_clv as select 'p' || i as person_id, "
        "cast(case when i = 199 then 50000 else i * 3.5 end as decimal(18, 2)) as clv_12m from range(200) t(i)"
    )
    plot = mart_plots(con, "customer_clv")["plot/clv_12m_histogram"].value
    bins = _plot_rows(plot)
    assert sum(bins.values()) == 200
    labels = list(bins)
    assert labels[-1].endswith("+") and bins[labels[-1]] >= 1  # the 50,000 outlier, with the top percent
    assert len(bins) <= 16
    width = float(labels[1].replace(",", "")) - float(labels[0].replace(",", ""))
    first = con.execute(f"select count(*) from marts.customer_clv where clv_12m < {width}").fetchone()[0]
    assert bins[labels[0]] == first
