"""The dbt docs site (``dbt docs generate``): models, columns, tests, lineage down to the exposures (the dashboard
pages and the serving copies), and the warehouse's column types (the catalog).

Written to ``$JW_DATA_DIR/dbt_docs/`` (index.html, manifest.json, catalog.json): by the Dagster asset ``dbt_docs``
after every build, and by ``journey docs`` from the current warehouse. dbt opens the warehouse read-write to read
its catalog (dbt-duckdb has no read-only mode), so both wait for a reader to let go (warehouse_lock.py).
"""

from __future__ import annotations

import http.server
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from ingestion.config import data_dir, warehouse_path

SITE_FILES = ("index.html", "manifest.json", "catalog.json")
LOCK_ATTEMPTS = 6  # dbt meeting a reader's lock: tries, with warehouse_lock's backoff between them


class DocsError(RuntimeError):
    pass


@dataclass
class DocsSite:
    path: Path  # the folder serving index.html
    nodes: int  # models, seeds and sources documented
    catalogued: int  # relations of the warehouse in the catalog (with their column types)
    seconds: float


def docs_dir() -> Path:
    """``$JW_DATA_DIR/dbt_docs``: the docs site of the last build."""
    return data_dir() / "dbt_docs"


def generate_docs(warehouse: Path | None = None, target: Path | None = None, site: Path | None = None, log=None) -> DocsSite:
    """``dbt docs generate`` against ``warehouse`` into ``target`` (a fresh folder by default), then the site's
    three files copied to ``site`` (default ``docs_dir()``), each replaced whole (a reader of the site never
    sees half a file). Waits for a reader holding the warehouse, and tries again when dbt meets one."""
    import json

    from orchestration.lib.dbt import DBT_PROJECT_DIR, parse_state_kept, run_dbt
    from orchestration.lib.warehouse_lock import LOCK_CONFLICT, backoff_seconds, wait_until_writable

    started = time.monotonic()
    warehouse = Path(warehouse or warehouse_path())
    if not warehouse.exists():
        raise DocsError(f"no warehouse at {warehouse}: build it first (journey run, or make demo)")
    target = Path(target or DBT_PROJECT_DIR / "target" / f"dbt_docs-{uuid.uuid4().hex[:7]}")
    site = Path(site or docs_dir())
    for attempt in range(LOCK_ATTEMPTS):
        wait_until_writable(warehouse, log=log)
        with parse_state_kept(target, warehouse):
            done = run_dbt(["docs", "generate"], warehouse, target)
        if done.returncode == 0:
            break
        output = done.stdout + done.stderr
        if LOCK_CONFLICT not in output or attempt == LOCK_ATTEMPTS - 1:
            raise DocsError(f"dbt docs generate failed:\n{output[-3000:]}")
        time.sleep(backoff_seconds(attempt + 1))
    site.mkdir(parents=True, exist_ok=True)
    for name in SITE_FILES:
        part = site / f".{name}.{uuid.uuid4().hex[:7]}"
        shutil.copyfile(target / name, part)
        os.replace(part, site / name)
    manifest = json.loads((site / "manifest.json").read_text())
    catalog = json.loads((site / "catalog.json").read_text())
    documented = sum(1 for n in manifest["nodes"].values() if n["resource_type"] in ("model", "seed")) + len(manifest["sources"])
    catalogued = len(catalog.get("nodes", {})) + len(catalog.get("sources", {}))
    return DocsSite(site, documented, catalogued, time.monotonic() - started)


def serve_docs(site: Path, port: int = 8080, host: str = "127.0.0.1") -> http.server.ThreadingHTTPServer:
    """An HTTP server for the docs folder (``serve_forever()`` to run it; port 0 picks a free one)."""
    if not (Path(site) / "index.html").exists():
        raise DocsError(f"no docs site at {site}: run `journey docs` first")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format, *args):  # noqa: A002 - the base class's name
            pass

    return http.server.ThreadingHTTPServer((host, port), partial(Quiet, directory=str(site)))
