"""The serving copy: the marts in a DuckDB file of their own, that BI tools and the dashboard open instead of the
warehouse (``journey publish serving``, the Dagster asset ``serving_copy`` after every build, ``journey forget``).

DuckDB lets one process write a file, or many read it: a reader holding ``warehouse.duckdb`` open blocks the next
build. Readers open ``serving.duckdb`` instead, which the build never writes in place:

1. the warehouse is opened read-only (waiting out a writer, ``warehouse_lock``); every table and view of schema
   ``marts`` is copied as a table into a new file in a private folder next to ``serving_path()``, written in the
   oldest storage format DuckDB 2 still writes (``STORAGE_VERSION``: DuckDB 0.10 and every 1.x read it, so BI
   drivers bundling an older DuckDB can open it), with ``meta.publications`` (one row per table copied:
   ``table_schema``, ``table_name``, ``row_count``, ``published_at`` timestamptz);
2. the file is checkpointed and closed (no ``.wal`` left), fsynced, and ``os.replace``d over ``serving.duckdb``
   (atomic: a reader sees the old file or the new, never half of one; a reader holding the old file keeps reading
   it, and never blocks the swap);
3. the same for schema ``pii`` into ``serving_pii.duckdb``, owner-only (mode 0600), apart so that a BI tool given
   the marts file never sees contacts.

With ``$JW_SERVING_POSTGRES_URL`` set (``$JW_PUBLISH_POSTGRES_URL``, its older name, still works), ``publish_all``
also refreshes the PostgreSQL copy (schemas ``marts`` and ``pii``, role ``bi_reader``) in one transaction
(``orchestration.publish``).

The publications table is in a schema of its own, ``meta`` (not ``serving``: a file opened as ``serving.duckdb`` has a
catalog called ``serving``, and ``serving.publications`` would be ambiguous there).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

# DuckDB 2.0 accepts v0.0.4 ... v2.0.0 here, but writes nothing older than storage format 64 ("v1.0.0+", introduced
# by DuckDB 0.10.0): older names give the same file. Format 64 is read by DuckDB 0.10.0 and every later release.
STORAGE_VERSION = "v1.0.0"
READABLE_BY = "DuckDB 0.10.0 or later (every 1.x and 2.x)"
PUBLICATIONS = "meta.publications"
PII_FILE_MODE = 0o600
POSTGRES_URL_ENV = "JW_SERVING_POSTGRES_URL"
POSTGRES_URL_ENV_OLD = "JW_PUBLISH_POSTGRES_URL"  # the older name, still accepted

PUBLICATIONS_DDL = """
create schema if not exists serving.meta;
create table serving.meta.publications (
    table_schema varchar not null,
    table_name varchar not null,
    row_count bigint not null,
    published_at timestamptz not null,
    primary key (table_schema, table_name)
)
"""


class ServingError(RuntimeError):
    """The serving copy cannot be published (no warehouse, no marts)."""


@dataclass
class ServingReport:
    path: Path  # the marts file (serving.duckdb)
    pii_path: Path | None  # the pii file, None when the warehouse has no schema pii
    tables: dict[str, int] = field(default_factory=dict)  # "<schema>.<table>" -> rows, both files
    published_at: datetime | None = None
    storage_version: str = STORAGE_VERSION
    seconds: float = 0.0
    bytes: int = 0  # size of the marts file
    postgres_url: str | None = None  # the PostgreSQL copy refreshed too (password masked), by ``publish_all``
    postgres_tables: dict[str, int] = field(default_factory=dict)
    postgres_seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _relations(con, schema: str) -> list[str]:
    return [t for (t,) in con.execute(
        "select table_name from information_schema.tables where table_catalog = 'warehouse' and table_schema = ?"
        " order by table_name", [schema]).fetchall()]  # fmt: skip


def _copy_schema(con, schema: str, target: Path, published_at: datetime, mode: int | None) -> dict[str, int]:
    """Copy ``warehouse.<schema>`` into a new file swapped in over ``target``; returns rows per table."""
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))  # mode 0700: nobody else sees it
    staged = scratch / target.name
    tables: dict[str, int] = {}
    try:
        con.execute(f"attach '{staged}' as serving (storage_version '{STORAGE_VERSION}')")
        try:
            con.execute(f"create schema serving.{_quote(schema)}")
            con.execute(PUBLICATIONS_DDL)
            for table in _relations(con, schema):
                name = f"{_quote(schema)}.{_quote(table)}"
                con.execute(f"create table serving.{name} as select * from warehouse.{name}")
                rows = con.execute(f"select count(*) from serving.{name}").fetchone()[0]
                con.execute("insert into serving.meta.publications values (?, ?, ?, ?)",
                            [schema, table, rows, published_at])  # fmt: skip
                tables[f"{schema}.{table}"] = rows
            con.execute("checkpoint serving")
        finally:
            con.execute("detach serving")
        leftover = staged.with_name(staged.name + ".wal")
        if leftover.exists():  # detach checkpoints; never ship a file that needs its WAL
            raise ServingError(f"the serving copy {staged} kept a write-ahead log after its checkpoint")
        if mode is not None:
            os.chmod(staged, mode)
        _fsync(staged)
        stale = target.with_name(target.name + ".wal")
        if stale.exists():  # someone opened the old copy read-write: its log must not be replayed on the new file
            stale.unlink()
        os.replace(staged, target)
        _fsync(target.parent)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return tables


def _open_warehouse(warehouse: Path, timeout: float):
    """An in-memory DuckDB with the warehouse attached read-only as ``warehouse``, waiting out a writer's lock."""
    import duckdb

    from orchestration.lib.warehouse_lock import backoff_seconds, is_lock_conflict

    started = time.monotonic()
    attempt = 0
    while True:
        con = duckdb.connect()
        try:
            con.execute("set enable_progress_bar = false")  # no bars in the run's log
            con.execute(f"attach '{warehouse}' as warehouse (read_only)")
            return con
        except duckdb.Error as error:
            con.close()
            if not is_lock_conflict(error) or time.monotonic() - started > timeout:
                raise
        time.sleep(backoff_seconds(attempt))
        attempt += 1


def publish_serving(warehouse: Path | None = None, target: Path | None = None, *, timeout: float = 120.0) -> ServingReport:
    """Publish the serving copy of ``warehouse`` (default ``config.warehouse_path()``) to ``target`` (default
    ``config.serving_path()``; the pii file is ``serving_pii.duckdb`` next to it). See the module docstring."""
    from ingestion import config

    started = time.monotonic()
    warehouse = Path(warehouse or config.warehouse_path())
    target = Path(target or config.serving_path())
    pii_target = target.with_name("serving_pii.duckdb")
    if not warehouse.exists():
        raise ServingError(f"no warehouse at {warehouse}: run `journey run` first")
    published_at = datetime.now(timezone.utc)
    con = _open_warehouse(warehouse, timeout)
    try:
        schemas = {s for (s,) in con.execute(
            "select schema_name from information_schema.schemata where catalog_name = 'warehouse'").fetchall()}
        if "marts" not in schemas:
            raise ServingError(f"no schema marts in {warehouse}: run `journey run` first")
        report = ServingReport(path=target, pii_path=pii_target if "pii" in schemas else None,
                               published_at=published_at)  # fmt: skip
        report.tables.update(_copy_schema(con, "marts", target, published_at, mode=None))
        if "pii" in schemas:
            report.tables.update(_copy_schema(con, "pii", pii_target, published_at, mode=PII_FILE_MODE))
    finally:
        con.close()
    report.bytes = target.stat().st_size
    report.seconds = time.monotonic() - started
    return report


def serving_postgres_url() -> str | None:
    """``$JW_SERVING_POSTGRES_URL``, else ``$JW_PUBLISH_POSTGRES_URL`` (the older name), else None."""
    return os.environ.get(POSTGRES_URL_ENV) or os.environ.get(POSTGRES_URL_ENV_OLD) or None


def publish_all(warehouse: Path | None = None, target: Path | None = None, *, timeout: float = 120.0) -> ServingReport:
    """The DuckDB serving copy (``publish_serving``) and, when ``serving_postgres_url()`` is set, the PostgreSQL one
    (``orchestration.publish.publish_postgres``: marts and pii in one transaction, role ``bi_reader``)."""
    report = publish_serving(warehouse, target, timeout=timeout)
    url = serving_postgres_url()
    if url:
        from orchestration.publish import publish_postgres, safe_url

        published = publish_postgres(url, warehouse)
        report.postgres_url = safe_url(url)
        report.postgres_tables = published.tables
        report.postgres_seconds = published.seconds
    return report


def remove_serving(target: Path | None = None) -> list[Path]:
    """Delete the serving copies (both files); returns those that existed."""
    from ingestion import config

    target = Path(target or config.serving_path())
    removed = []
    for path in (target, target.with_name("serving_pii.duckdb")):
        if path.exists():
            path.unlink()
            removed.append(path)
    return removed
