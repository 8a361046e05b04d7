"""Run the six sources into the warehouse with plain dlt (Dagster wraps the same pieces).

Endpoints come from the environment when the real systems exist:

- ``JW_SHOP_API_URL``, ``JW_ESP_API_URL``, ``JW_SOCIAL_API_URL``: base URL of each HTTP API, with its token in
  ``JW_SHOP_API_TOKEN``, ``JW_ESP_API_TOKEN``, ``JW_SOCIAL_API_TOKEN`` (or dlt secrets:
  ``SOURCES__SHOP__ACCESS_TOKEN`` ...);
- ``JW_LOYALTY_DB_URL`` (+ ``JW_LOYALTY_DB_SCHEMA``): SQLAlchemy URL of the loyalty/POS database;
- ``JW_IOT_BUCKET_URL``: folder or bucket URL of the IoT drop;
- ``JW_HISTORY_DIR``: folder of historical order files (CSV, Parquet); default ``<source systems>/history``.

Whatever is not set is served from the demo world's source systems in ``<data dir>/source_systems``.
"""

from __future__ import annotations

import os
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping

import dlt
from dlt.extract.source import DltSource

from . import config
from .sources import esp_source, history_source, iot_source, loyalty_source, shop_source, social_source


API_SOURCES = ("shop", "esp", "social")


@dataclass(frozen=True)
class Endpoints:
    shop_api_url: str
    esp_api_url: str
    social_api_url: str
    loyalty_url: str = field(repr=False)  # may carry a password: never in a repr (errors, logs)
    loyalty_schema: str | None
    iot_bucket_url: str
    # access token per API source; None: the source takes it from dlt secrets (SOURCES__<SOURCE>__ACCESS_TOKEN)
    tokens: Mapping[str, str | None] = field(default_factory=dict, repr=False)
    history_url: str = "file:///nonexistent"  # folder (or bucket URL) of the history files

    def api(self, name: str) -> dict:
        """Keyword arguments of API source ``name``: its base URL and, when known here, its token."""
        token = self.tokens.get(name)
        return {"base_url": getattr(self, f"{name}_api_url"), **({"access_token": token} if token else {})}


SOURCE_FACTORIES: dict[str, Callable[[Endpoints], DltSource]] = {
    "shop": lambda ep: shop_source(**ep.api("shop")),
    "esp": lambda ep: esp_source(**ep.api("esp")),
    "social": lambda ep: social_source(**ep.api("social")),
    "loyalty": lambda ep: loyalty_source(credentials=ep.loyalty_url, schema=ep.loyalty_schema),
    "iot": lambda ep: iot_source(bucket_url=ep.iot_bucket_url),
    "history": lambda ep: history_source(bucket_url=ep.history_url),
}

# Tables a source writes besides one per resource: dlt child tables of nested lists, and side tables
# (quarantine). Each maps to the resource whose load writes it.
DERIVED_TABLES: dict[str, dict[str, str]] = {
    "shop": {
        "orders__lines": "orders",
        "abandoned_checkouts__lines": "abandoned_checkouts",
        "customers__quarantine": "customers",
        "orders__quarantine": "orders",
        "abandoned_checkouts__quarantine": "abandoned_checkouts",
        "events__quarantine": "events",
        "reviews__quarantine": "reviews",
        "products__variants": "products",
        "products__quarantine": "products",
    },
    "esp": {f"{t}__quarantine": t for t in ("campaigns", "profiles", "events")},
    "loyalty": {f"{table}__quarantine": table for table in ("members", "cards", "receipts", "points", "consents")},
    "iot": {"readings__quarantine": "readings", "devices__quarantine": "devices"},
    "social": {"posts__quarantine": "posts", "interactions__quarantine": "interactions"},
    "history": {"orders__quarantine": "orders"},
}

# Placeholder endpoints: enough to build a source object and list its resources, never contacted.
OFFLINE = Endpoints(
    *(f"http://127.0.0.1:9/{name}" for name in API_SOURCES),
    "sqlite:///:memory:",
    None,
    "file:///nonexistent",
    tokens={name: "offline" for name in API_SOURCES},
)


def build_source(name: str, endpoints: Endpoints = OFFLINE) -> DltSource:
    """A fresh source object for one run (sources carry per-run state: never reuse one).

    Records of people erased by ``journey forget`` (the keyed hashes in ``$JW_DATA_DIR/suppression.json``) are
    dropped on extraction, so no source brings them back (see ``ingestion.erasure``).
    """
    from .erasure import apply_suppression

    source = SOURCE_FACTORIES[name](endpoints)
    return source if endpoints is OFFLINE else apply_suppression(name, source)


@contextmanager
def source_endpoints(source_systems: Path | None = None, *, faults: float = 0.0) -> Iterator[Endpoints]:
    """Where the sources are for the duration of the block.

    An API whose ``JW_<SOURCE>_API_URL`` is not set is served from the demo world (with ``faults``, the share
    of requests the demo servers fail, for tests), and so are the loyalty DB and the IoT drop.
    """
    root = Path(source_systems or config.source_systems_dir())
    with ExitStack() as stack:
        urls = {name: os.environ.get(f"JW_{name.upper()}_API_URL") for name in API_SOURCES}
        tokens = {name: os.environ.get(f"JW_{name.upper()}_API_TOKEN") for name in API_SOURCES}
        demo = [name for name, url in urls.items() if not url]
        if demo:
            if not (root / "api").is_dir():
                raise FileNotFoundError(
                    f"no source systems at {root}: set JW_SHOP_API_URL etc. or run `journey world generate`"
                )
            from .demo_world.api_server import DEMO_TOKENS, serve

            base = stack.enter_context(serve(root / "api", faults=faults, systems=tuple(demo)))
            urls.update({name: f"{base}/{name}" for name in demo})
            tokens.update({name: DEMO_TOKENS[name] for name in demo})
        yield Endpoints(
            shop_api_url=urls["shop"],
            esp_api_url=urls["esp"],
            social_api_url=urls["social"],
            loyalty_url=os.environ.get("JW_LOYALTY_DB_URL") or f"sqlite:///{root / 'loyalty.sqlite'}",
            loyalty_schema=os.environ.get("JW_LOYALTY_DB_SCHEMA") or None,
            iot_bucket_url=os.environ.get("JW_IOT_BUCKET_URL") or (root / "iot_drop").as_uri(),
            tokens=tokens,
            history_url=(Path(os.environ["JW_HISTORY_DIR"]).resolve() if os.environ.get("JW_HISTORY_DIR")
                         else root / "history").as_uri(),
        )


# merge staging out of the way of people browsing schemas (default: <dataset>_staging)
STAGING_LAYOUT = "_dlt_staging_%s"

# The file format dlt loads with, per destination: Parquet, but COPY from CSV on PostgreSQL (dlt loads Parquet there
# only through an ADBC driver, which is not installed)
LOADER_FILE_FORMATS = {"duckdb": "parquet", "postgres": "csv", "spark": "parquet"}


def build_destination(destination: str | None = None, warehouse: Path | None = None):
    """The dlt destination of ``destination`` (default: ``JW_DESTINATION``, see :func:`ingestion.config.destination`).

    ``duckdb``: the warehouse file (``warehouse`` or the configured one); ``postgres``: the database at
    ``JW_POSTGRES_URL``; ``spark``: dlt's ``filesystem`` destination writing Parquet under ``JW_LAKE_DIR``
    (``<lake>/<dataset>/<table>/<load id>.<file id>.parquet``), which the Spark Thrift server reads.
    """
    destination = destination or (config.destination() if warehouse is None else "duckdb")
    if destination == "duckdb":
        return dlt.destinations.duckdb(str(warehouse or config.warehouse_path()), staging_dataset_name_layout=STAGING_LAYOUT)
    if destination == "postgres":
        from dlt.destinations.impl.postgres.configuration import PostgresCredentials

        credentials = PostgresCredentials(config.postgres_url())
        if credentials.password is None:  # trust or peer authentication: dlt insists on a password field
            credentials.password = ""
        return dlt.destinations.postgres(credentials, staging_dataset_name_layout=STAGING_LAYOUT)
    if destination == "spark":
        lake = config.lake_dir()
        lake.mkdir(parents=True, exist_ok=True)
        return dlt.destinations.filesystem(lake.as_uri(), layout="{table_name}/{load_id}.{file_id}.{ext}")
    raise ValueError(f"unknown destination {destination!r}")


def loader_file_format(destination: str | None = None) -> str:
    """The loader file format for ``destination`` (default: ``JW_DESTINATION``)."""
    return LOADER_FILE_FORMATS[destination or config.destination()]


def make_pipeline(
    name: str, warehouse: Path | None = None, pipelines_dir: Path | None = None, destination: str | None = None
) -> dlt.Pipeline:
    """The dlt pipeline of source ``name``: one dataset (schema) per source, in the destination of
    ``JW_DESTINATION`` (an explicit ``warehouse`` file means DuckDB)."""
    return dlt.pipeline(
        pipeline_name=f"journey_{name}",
        destination=build_destination(destination, warehouse),
        dataset_name=name,
        pipelines_dir=str(pipelines_dir or config.pipelines_dir()),
    )


def load(
    name: str, endpoints: Endpoints, warehouse: Path | None = None, pipelines_dir: Path | None = None,
    destination: str | None = None,
):  # fmt: skip
    """Load one source; returns dlt's load info."""
    destination = destination or (config.destination() if warehouse is None else "duckdb")
    pipeline = make_pipeline(name, warehouse, pipelines_dir, destination)
    return pipeline.run(build_source(name, endpoints), loader_file_format=loader_file_format(destination))
