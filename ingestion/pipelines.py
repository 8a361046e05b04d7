"""Run the five sources into the warehouse with plain dlt (Dagster wraps the same pieces).

Endpoints come from the environment when the real systems exist:

- ``JW_API_BASE_URL``: base URL of the shop, ESP and social APIs (``<base>/shop/...``, ``<base>/esp/...``);
- ``JW_LOYALTY_DB_URL`` (+ ``JW_LOYALTY_DB_SCHEMA``): SQLAlchemy URL of the loyalty/POS database;
- ``JW_IOT_BUCKET_URL``: folder or bucket URL of the IoT drop.

Whatever is not set is served from the demo world's source systems in ``<data dir>/source_systems``.
"""

from __future__ import annotations

import os
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import dlt
from dlt.extract.source import DltSource

from . import config
from .sources import esp_source, iot_source, loyalty_source, shop_source, social_source


@dataclass(frozen=True)
class Endpoints:
    api_base_url: str
    loyalty_url: str
    loyalty_schema: str | None
    iot_bucket_url: str


SOURCE_FACTORIES: dict[str, Callable[[Endpoints], DltSource]] = {
    "shop": lambda ep: shop_source(base_url=ep.api_base_url),
    "esp": lambda ep: esp_source(base_url=ep.api_base_url),
    "social": lambda ep: social_source(base_url=ep.api_base_url),
    "loyalty": lambda ep: loyalty_source(credentials=ep.loyalty_url, schema=ep.loyalty_schema),
    "iot": lambda ep: iot_source(bucket_url=ep.iot_bucket_url),
}

# Tables a source writes besides one per resource: dlt child tables of nested lists, and side tables
# (quarantine). Each maps to the resource whose load writes it.
DERIVED_TABLES: dict[str, dict[str, str]] = {
    "shop": {"orders__lines": "orders", "abandoned_checkouts__lines": "abandoned_checkouts"},
    "iot": {"readings_quarantine": "readings"},
    "loyalty": {f"{table}__quarantine": table for table in ("members", "cards", "receipts", "points")},
}

# Placeholder endpoints: enough to build a source object and list its resources, never contacted.
OFFLINE = Endpoints("http://127.0.0.1:9", "sqlite:///:memory:", None, "file:///nonexistent")


def build_source(name: str, endpoints: Endpoints = OFFLINE) -> DltSource:
    """A fresh source object for one run (sources carry per-run state: never reuse one)."""
    return SOURCE_FACTORIES[name](endpoints)


@contextmanager
def source_endpoints(source_systems: Path | None = None) -> Iterator[Endpoints]:
    """Where the sources are for the duration of the block; serves the demo APIs when no real URL is set."""
    root = Path(source_systems or config.source_systems_dir())
    with ExitStack() as stack:
        api = os.environ.get("JW_API_BASE_URL")
        if not api:
            if not (root / "api").is_dir():
                raise FileNotFoundError(
                    f"no source systems at {root}: set JW_API_BASE_URL etc. or run `python -m ingestion.demo_world`"
                )
            from .demo_world.api_server import serve

            api = stack.enter_context(serve(root / "api"))
        yield Endpoints(
            api_base_url=api,
            loyalty_url=os.environ.get("JW_LOYALTY_DB_URL") or f"sqlite:///{root / 'loyalty.sqlite'}",
            loyalty_schema=os.environ.get("JW_LOYALTY_DB_SCHEMA") or None,
            iot_bucket_url=os.environ.get("JW_IOT_BUCKET_URL") or (root / "iot_drop").as_uri(),
        )


def make_pipeline(name: str, warehouse: Path | None = None, pipelines_dir: Path | None = None) -> dlt.Pipeline:
    """The dlt pipeline of source ``name``: DuckDB warehouse, one dataset (schema) per source."""
    return dlt.pipeline(
        pipeline_name=f"journey_{name}",
        destination=dlt.destinations.duckdb(
            str(warehouse or config.warehouse_path()),
            # merge staging out of the way of people browsing schemas (default: <dataset>_staging)
            staging_dataset_name_layout="_dlt_staging_%s",
        ),
        dataset_name=name,
        pipelines_dir=str(pipelines_dir or config.pipelines_dir()),
    )


def load(name: str, endpoints: Endpoints, warehouse: Path | None = None, pipelines_dir: Path | None = None):
    """Load one source; returns dlt's load info."""
    pipeline = make_pipeline(name, warehouse, pipelines_dir)
    return pipeline.run(build_source(name, endpoints), loader_file_format="parquet")
