"""Where things live. Everything is derived from one environment variable, ``JW_DATA_DIR``."""

from __future__ import annotations

import os
from pathlib import Path

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


def source_systems_dir() -> Path:
    """Where the demo world keeps the source systems' own data (API snapshots, loyalty DB, IoT drop folder)."""
    return data_dir() / "source_systems"


def history_dir() -> Path:
    """The folder of historical order files: ``$JW_HISTORY_DIR`` or ``<source systems>/history``."""
    explicit = os.environ.get("JW_HISTORY_DIR")
    return Path(explicit).resolve() if explicit else source_systems_dir() / "history"


def pipelines_dir() -> Path:
    """dlt's local working folder."""
    return data_dir() / "dlt_pipelines"


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
