"""Where things live. Everything is derived from one environment variable, ``JW_DATA_DIR``."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

REPO_ROOT = Path(__file__).resolve().parent.parent
SOURCE_NAMES = ("shop", "esp", "social", "loyalty", "iot", "history")


def data_dir() -> Path:
    """The data folder: ``$JW_DATA_DIR`` or ``<repo>/data``."""
    return Path(os.environ.get("JW_DATA_DIR") or REPO_ROOT / "data").resolve()


def warehouse_path() -> Path:
    """The DuckDB warehouse file: ``$JW_WAREHOUSE_PATH`` or ``<data dir>/warehouse.duckdb``."""
    explicit = os.environ.get("JW_WAREHOUSE_PATH")
    return Path(explicit).resolve() if explicit else data_dir() / "warehouse.duckdb"


def serving_path() -> Path:
    """The serving copy readers open instead of the warehouse (BI tools, the dashboard): ``$JW_SERVING_PATH`` or
    ``<data dir>/serving.duckdb``. Marts only; written next to it and swapped in atomically after each build."""
    explicit = os.environ.get("JW_SERVING_PATH")
    return Path(explicit).resolve() if explicit else data_dir() / "serving.duckdb"


def serving_pii_path() -> Path:
    """The ``pii`` part of the serving copy, apart so that a BI tool given the marts file never sees contacts:
    ``<serving copy's folder>/serving_pii.duckdb`` (owner-only file mode)."""
    return serving_path().with_name("serving_pii.duckdb")


DESTINATIONS = ("duckdb", "postgres", "spark")


def destination() -> str:
    """Where dlt loads and which dbt target builds: ``$JW_DESTINATION``, one of :data:`DESTINATIONS` (default
    ``duckdb``: the warehouse file). ``postgres``: the database at :func:`postgres_url`, dbt target ``postgres``;
    ``spark``: Parquet files under :func:`lake_dir` (dlt's ``filesystem`` destination), dbt target ``spark``."""
    value = (os.environ.get("JW_DESTINATION") or "duckdb").strip().lower()
    if value not in DESTINATIONS:
        raise ValueError(f"JW_DESTINATION={value!r}: expected one of {', '.join(DESTINATIONS)}")
    return value


def postgres_url() -> str:
    """The PostgreSQL warehouse of ``JW_DESTINATION=postgres``: ``$JW_POSTGRES_URL`` or
    ``postgresql://postgres@127.0.0.1:5432/journey``."""
    return os.environ.get("JW_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/journey"


def postgres_dbt_env(url: str | None = None) -> dict[str, str]:
    """The parts of :func:`postgres_url` as the environment variables the ``postgres`` output of
    ``dbt_project/profiles.yml`` reads (``JW_PG_HOST``, ``JW_PG_PORT``, ``JW_PG_USER``, ``JW_PG_PASSWORD``,
    ``JW_PG_DBNAME``)."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url or postgres_url())
    return {
        "JW_PG_HOST": parts.hostname or "127.0.0.1",
        "JW_PG_PORT": str(parts.port or 5432),
        "JW_PG_USER": unquote(parts.username or "postgres"),
        "JW_PG_PASSWORD": unquote(parts.password or ""),
        "JW_PG_DBNAME": unquote(parts.path.lstrip("/") or "journey"),
    }


def lake_dir() -> Path:
    """The Parquet lake of ``JW_DESTINATION=spark``: ``$JW_LAKE_DIR`` or ``<data dir>/lake``; dlt writes
    ``<lake>/<dataset>/<table>/...``."""
    explicit = os.environ.get("JW_LAKE_DIR")
    return Path(explicit).resolve() if explicit else data_dir() / "lake"


def dbt_env() -> dict[str, str]:
    """What dbt is launched with for the configured destination: the target (``DBT_TARGET`` read by
    ``profiles.yml``) and, for PostgreSQL, the connection's parts."""
    dest = destination()
    env = {"JW_DESTINATION": dest}
    if dest == "postgres":
        env.update(postgres_dbt_env())
    if dest == "spark":
        env["JW_LAKE_DIR"] = str(lake_dir())
    return env


def source_systems_dir() -> Path:
    """Where the demo world keeps the source systems' own data (API snapshots, loyalty DB, IoT drop folder)."""
    return data_dir() / "source_systems"


def history_dir() -> Path:
    """The folder of historical order files: ``$JW_HISTORY_DIR`` or ``<source systems>/history``."""
    explicit = os.environ.get("JW_HISTORY_DIR")
    return Path(explicit).resolve() if explicit else source_systems_dir() / "history"


def pipelines_dir() -> Path:
    """dlt's local working folder (one per destination besides the default, so their states never mix)."""
    dest = destination()
    return data_dir() / ("dlt_pipelines" if dest == "duckdb" else f"dlt_pipelines_{dest}")


def dagster_home() -> Path:
    return Path(os.environ.get("DAGSTER_HOME") or data_dir() / "dagster_home").resolve()


def activation_dir() -> Path:
    """The activation store's folder (SQLite default): ``<data dir>/activation``. Outside the warehouse, so the
    real-time path never waits for the warehouse's single writer."""
    return data_dir() / "activation"


def activation_db_url() -> str | None:
    """``$JW_ACTIVATION_DB_URL`` (a PostgreSQL URL) for the inbox and the outbox; None = SQLite files in
    :func:`activation_dir`."""
    return os.environ.get("JW_ACTIVATION_DB_URL") or None


@contextmanager
def environment(**values: str | None) -> Iterator[None]:
    """``os.environ`` with ``values`` (None: unset) for the block; the previous values come back afterwards."""
    previous = {name: os.environ.get(name) for name in values}
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
