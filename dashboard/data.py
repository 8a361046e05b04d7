"""Everything a page needs to read the serving copy, and the filters every page shares.

- Only the serving copy is read (``ingestion.config.serving_path()``), read-only: the dashboard never opens the
  warehouse, so it never blocks a build, and a build never breaks a page.
- The copy is swapped in atomically after each build: a connection is kept per file version (inode and mtime),
  so a page reads one consistent copy and the next rerun sees the new one.
- ``require()`` is how a page says which mart it needs: a missing one is named with the Dagster asset to
  materialize, and the page stops there instead of raising.
- Query results are cached per file version, SQL and parameters: a rerun with the same filters costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import streamlit as st

from ingestion.config import serving_path, serving_pii_path

MART_SCHEMA = "marts"


def _version(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns


@st.cache_resource(max_entries=2, show_spinner=False)
def _connection(path: str, version: tuple[int, int]) -> duckdb.DuckDBPyConnection:
    """A read-only connection to one version of the serving copy (a new version gets a new connection; the
    old file stays readable through the old one until it is evicted).

    An in-memory database that ATTACHes the file, not ``duckdb.connect(path)``: DuckDB caches a database per
    path within a process, so connecting to the same path again after a publish would return the old file."""
    connection = duckdb.connect()
    # after connecting: as a connect-time config, TimeZone fails (DuckDB 2.0 loads icu only once connected)
    connection.execute("set TimeZone = 'UTC'")
    connection.execute(f"attach '{_quoted(path)}' as served (read_only)")
    connection.execute("use served")
    return connection


def _quoted(path: str) -> str:
    return path.replace("'", "''")


def version() -> tuple[int, int] | None:
    """The serving copy's current version, or None when it has not been published yet."""
    return _version(serving_path())


def connection() -> duckdb.DuckDBPyConnection | None:
    current = version()
    return None if current is None else _connection(str(serving_path()), current)


@st.cache_data(max_entries=512, show_spinner=False)
def _query(sql: str, params: tuple, version: tuple[int, int]) -> pd.DataFrame:
    cursor = _connection(str(serving_path()), version).cursor()  # a cursor per query: safe across threads
    try:
        cursor.execute("use served")  # a cursor is a connection of its own: the default catalog is per connection
        return cursor.execute(sql, list(params)).df()
    finally:
        cursor.close()


def query(sql: str, params: tuple | list = ()) -> pd.DataFrame:
    """Run ``sql`` (``?`` placeholders) on the serving copy; cached per copy version."""
    current = version()
    if current is None:
        raise RuntimeError("The serving copy has not been published yet.")
    return _query(sql, tuple(params), current)


@st.cache_data(show_spinner=False)
def _tables(version: tuple[int, int]) -> frozenset[str]:
    rows = _connection(str(serving_path()), version).execute(
        "select table_schema || '.' || table_name from information_schema.tables where table_catalog = 'served'"
    ).fetchall()
    return frozenset(name for (name,) in rows)


def tables() -> frozenset[str]:
    """``schema.table`` of every table in the serving copy (empty before the first publish)."""
    current = version()
    return frozenset() if current is None else _tables(current)


def asset_of(table: str) -> str:
    """The Dagster asset that builds ``schema.table`` (a dbt model's asset key is its name)."""
    return table.split(".", 1)[-1]


def require(*names: str) -> bool:
    """True when every mart named (``customer_360`` or ``marts.customer_360``) is in the serving copy; otherwise
    say which assets to materialize and return False (the page then stops)."""
    if version() is None:
        st.info(
            f"No serving copy at `{serving_path()}` yet. Build the warehouse first: `make demo`, `journey run`, "
            "or materialize all assets in Dagster (`make ui`); the `serving_copy` asset publishes it."
        )
        return False
    wanted = [name if "." in name else f"{MART_SCHEMA}.{name}" for name in names]
    missing = [name for name in wanted if name not in tables()]
    if missing:
        assets = ", ".join(f"`{asset_of(name)}`" for name in missing)
        st.info(
            f"This page needs {', '.join(f'`{m}`' for m in missing)}, not built yet. Materialize {assets} "
            "(and then `serving_copy`) in Dagster, or run `journey run`."
        )
        return False
    return True


@dataclass(frozen=True)
class Filters:
    start: date
    end: date  # inclusive
    channels: tuple[str, ...]  # empty: all channels
    segments: tuple[str, ...]  # RFM segments (marts.customer_rfm / customer_360.rfm_segment); empty: all

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> "Filters":
        """The period of the same length just before this one (for trends)."""
        return Filters(self.start - timedelta(days=self.days), self.start - timedelta(days=1), self.channels, self.segments)

    def channel_clause(self, column: str = "channel") -> tuple[str, tuple]:
        """``(sql, params)`` restricting ``column`` to the chosen channels (``true`` when all)."""
        if not self.channels:
            return "true", ()
        return f"{column} in ({', '.join('?' for _ in self.channels)})", self.channels

    def segment_clause(self, column: str = "rfm_segment") -> tuple[str, tuple]:
        if not self.segments:
            return "true", ()
        return f"{column} in ({', '.join('?' for _ in self.segments)})", self.segments


def _bounds() -> tuple[date, date]:
    if f"{MART_SCHEMA}.channel_daily" in tables():
        low, high = query(f"select min(date_day), max(date_day) from {MART_SCHEMA}.channel_daily").iloc[0]
        if pd.notna(low):
            return pd.Timestamp(low).date(), pd.Timestamp(high).date()
    today = date.today()
    return today - timedelta(days=89), today


def _options(sql: str, table: str) -> list[str]:
    if f"{MART_SCHEMA}.{table}" not in tables():
        return []
    return [value for value in query(sql).iloc[:, 0].tolist() if value is not None]


def sidebar_filters() -> Filters:
    """The shared filters, in the sidebar: date range (default: the last 90 days of data), channel, segment.
    Kept in session state, so they hold across pages."""
    low, high = _bounds() if version() is not None else (date.today() - timedelta(days=89), date.today())
    default = (max(low, high - timedelta(days=89)), high)
    with st.sidebar:
        picked = st.date_input("Date range", value=default, min_value=low, max_value=high, key="filter_dates")
        channels = st.multiselect(
            "Channel",
            _options(f"select distinct channel from {MART_SCHEMA}.channel_daily order by 1", "channel_daily"),
            key="filter_channels",
        )
        segments = st.multiselect(
            "Segment (RFM)",
            _options(f"select distinct segment from {MART_SCHEMA}.customer_rfm order by 1", "customer_rfm"),
            key="filter_segments",
        )
    start, end = (picked if isinstance(picked, (tuple, list)) and len(picked) == 2 else (default[0], default[1]))
    return Filters(start, end, tuple(channels), tuple(segments))


def pii_path() -> Path:
    """The serving copy's ``pii`` file (contacts), read only when the viewer turns PII on in the lookup page."""
    return serving_pii_path()
