"""Docs and metadata for analytics engineers and BI users: dbt exposures (dashboard pages, exports) at the end of the
lineage in dbt and Dagster, dbt asset descriptions, and the dbt docs site written by the build."""

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from orchestration.lib.constants import WAREHOUSE_POOL
from orchestration.lib.dbt import ensure_manifest

from dashboard.app import PAGES as DASHBOARD_PAGES

from .conftest import copy_warehouse

# the dashboard's pages (dashboard/app.py PAGES); what each reads is read off its script (dashboard/views/<page>.py)
PAGES = [name for name, _title, _icon in DASHBOARD_PAGES]
EXPORTS = {"serving_copy", "serving_postgres"}


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(ensure_manifest().read_text())


@pytest.fixture(scope="module")
def graph():
    from orchestration.definitions import defs

    return defs.resolve_asset_graph()


def _models(manifest) -> dict[str, dict]:
    return {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}


def _reads(manifest, exposure) -> set[str]:
    return {manifest["nodes"][uid]["name"] for uid in exposure["depends_on"]["nodes"]}


def _read_by_page(page: str, served: set[str]) -> set[str]:
    """The served models (marts and pii) a page's script reads: ``marts.x``/``pii.x`` in its SQL, ``require("x")``."""
    import re

    from dashboard.app import VIEWS

    source = (VIEWS / f"{page}.py").read_text()
    required = " ".join(re.findall(r"require\(([^)]*)\)", source))
    return {name for name in served if re.search(rf"\b(?:marts|pii)\.{name}\b", source) or re.search(rf"[\"']{name}[\"']", required)}


def test_every_dashboard_page_is_an_exposure_reading_its_marts(manifest):
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    assert set(exposures) == set(PAGES) | EXPORTS
    models = _models(manifest)
    served = {name for name, n in models.items() if n["fqn"][1] in ("marts", "pii")}
    for page in PAGES:
        exposure = exposures[page]
        url = "http://localhost:8501/" + ("" if page == "overview" else page)  # Streamlit serves the default page at /
        assert exposure["type"] == "dashboard" and exposure["url"] == url
        assert exposure["owner"]["email"] and exposure["description"]
        reads = _read_by_page(page, served)
        assert reads, page
        assert _reads(manifest, exposure) == reads, page  # every mart the page reads, and no other


def test_every_export_exposes_every_mart_and_pii_model(manifest):
    models = _models(manifest)
    served = {name for name, n in models.items() if n["fqn"][1] in ("marts", "pii")}
    for name in EXPORTS:
        exposure = next(e for e in manifest["exposures"].values() if e["name"] == name)
        assert exposure["type"] == "application"
        assert _reads(manifest, exposure) == served, f"{name}: add the new marts to its depends_on (models/exposures.yml)"


def test_dashboard_pages_are_assets_after_their_marts_in_dagster(manifest, graph):
    from orchestration.defs.docs import exposure_key

    for exposure in manifest["exposures"].values():
        if exposure["type"] != "dashboard":
            continue
        node = graph.get(dg.AssetKey(["dashboard", exposure["name"]]))
        assert node.group_name == "serving" and not node.is_materializable
        parents = {key.path[-1] for key in node.parent_keys}
        assert parents == _reads(manifest, exposure)
        assert exposure_key(exposure) == node.key


def test_exports_are_the_python_asset_that_writes_them(manifest, graph):
    from orchestration.defs.docs import exposure_key

    keys = {exposure_key(e) for e in manifest["exposures"].values() if e["name"] in EXPORTS}
    assert keys == {dg.AssetKey("serving_copy")}
    if not (Path(__file__).parents[1] / "orchestration" / "defs" / "serving.py").exists():
        pytest.skip("the serving asset (branch serving) is not merged here yet")
    assert graph.has(dg.AssetKey("serving_copy"))


def test_dbt_asset_descriptions_are_the_yaml_descriptions_never_sql(manifest, graph):
    from orchestration.lib.dbt import dbt_project
    from orchestration.lib.translators import WarehouseDbtTranslator

    translator = WarehouseDbtTranslator()
    by_key = {
        translator.get_asset_spec(manifest, uid, dbt_project).key: node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] in ("model", "seed")
    }
    assert len(by_key) > 70
    for key, node in by_key.items():
        description = graph.get(key).description
        assert node["description"].strip(), f"{node['name']}: no description in its YAML"
        assert description == node["description"].strip(), key.to_user_string()
        lowered = description.lower()
        assert "raw sql" not in lowered and "{{" not in description and not lowered.lstrip().startswith(("select", "with ", "--"))


def test_dbt_docs_is_a_serving_asset_after_every_model_in_the_warehouse_pool(graph):
    from orchestration.definitions import defs

    node = graph.get(dg.AssetKey("dbt_docs"))
    assert node.group_name == "serving" and node.is_materializable
    assert defs.resolve_assets_def(dg.AssetKey("dbt_docs")).node_def.pool == WAREHOUSE_POOL
    # every model is upstream of it
    upstream, frontier = set(), list(node.parent_keys)
    while frontier:
        key = frontier.pop()
        if key not in upstream:
            upstream.add(key)
            frontier.extend(graph.get(key).parent_keys)
    models = {key for key in graph.get_all_asset_keys() if key.path[0] in ("staging", "intermediate", "marts", "pii")}
    assert models <= upstream


def test_dbt_docs_of_a_built_warehouse_wait_for_a_reader(small_build, tmp_path):
    """`dbt docs generate` on a copy of the small build while another process holds it read-only: the docs wait
    (dbt needs it read-write), then hold the three files, the exposures and the warehouse's column types."""
    from orchestration.docs import SITE_FILES, generate_docs

    warehouse = copy_warehouse(small_build.built, tmp_path / "wh")
    reader = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(warehouse)!r}, read_only=True); print('held', flush=True); time.sleep(8)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert reader.stdout.readline().strip() == "held"
    site = generate_docs(warehouse, target=tmp_path / "target", site=tmp_path / "site")
    assert reader.poll() is not None  # dbt could open the warehouse only once the reader had let go
    reader.wait(timeout=30)
    assert sorted(p.name for p in site.path.iterdir()) == sorted(SITE_FILES)
    manifest = json.loads((site.path / "manifest.json").read_text())
    assert {e["name"] for e in manifest["exposures"].values()} >= {"overview", "serving_copy"}
    catalog = json.loads((site.path / "catalog.json").read_text())
    c360 = next(n for n in catalog["nodes"].values() if n["metadata"]["name"] == "customer_360")
    assert c360["columns"]["person_id"]["type"].lower() == "varchar"
    assert "<html" in (site.path / "index.html").read_text()[:2000].lower()


def test_journey_docs_serves_the_site(tmp_path):
    import threading
    import urllib.request

    from orchestration.docs import DocsError, serve_docs

    with pytest.raises(DocsError):
        serve_docs(tmp_path)
    (tmp_path / "index.html").write_text("<html>docs</html>")
    server = serve_docs(tmp_path, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_address[1]}/index.html", timeout=10) as response:
            assert response.read() == b"<html>docs</html>"
    finally:
        server.shutdown()
        server.server_close()
