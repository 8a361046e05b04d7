"""Retention of raw events: rows older than ``JW_RETENTION_DAYS`` (default 1095, three years) leave the warehouse.

Scope: the event tables, each by its own event-time column (:data:`EVENT_TABLES`), i.e. what people did, when:

- ``shop.events``          storefront events (clickstream), by ``derived_tstamp`` (when the event happened);
- ``esp.events``           e-mail engagement events (received, opened, clicked, unsubscribed), by ``datetime``;
- ``social.interactions``  comments, mentions, likes, shares, check-ins, by ``created_time``;
- ``iot.readings``         device readings, by ``recorded_at``.

Orders, receipts and loyalty points are transactions (kept for the accounting periods, and needed by the value
models), registries and profiles are master data: both leave the warehouse by erasure (``journey forget``), not
by age. Each event table's rows are deleted with SQL in one transaction, together with dlt child tables of the
table (``<table>__<child>``, by ``_dlt_root_id``) and the copy in dlt's merge staging dataset
(``_dlt_staging_<source>``); the quarantine tables hold positions and reasons, never event data, and stay.
A ``CHECKPOINT`` afterwards writes the deletions into the file.

The sources read incrementally (cursors on event time or file modification time), so an event deleted here is
not loaded again; one redelivered later is deleted by the next run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb

DEFAULT_RETENTION_DAYS = 1095
# (schema, table) -> its event-time column (timestamptz, UTC)
EVENT_TABLES: dict[tuple[str, str], str] = {
    ("shop", "events"): "derived_tstamp",
    ("esp", "events"): "datetime",
    ("social", "interactions"): "created_time",
    ("iot", "readings"): "recorded_at",
}


def retention_days() -> int:
    """``JW_RETENTION_DAYS`` (a whole number of days, at least 1), else :data:`DEFAULT_RETENTION_DAYS`."""
    value = os.environ.get("JW_RETENTION_DAYS", "").strip()
    if not value:
        return DEFAULT_RETENTION_DAYS
    try:
        days = int(value)
    except ValueError:
        raise ValueError(f"JW_RETENTION_DAYS must be a whole number of days, not {value!r}") from None
    if days < 1:
        raise ValueError(f"JW_RETENTION_DAYS must be at least 1 day, not {days}")
    return days


@dataclass(frozen=True)
class RetentionResult:
    cutoff: datetime  # rows with an event time before this were deleted
    days: int
    deleted: dict[str, int]  # "<schema>.<table>" -> rows deleted from the table (0 when there is no such table yet)
    deleted_children: dict[str, int]  # "<schema>.<table>__<child>" -> rows deleted with their parents
    deleted_staging: dict[str, int]  # "_dlt_staging_<schema>.<table>" -> rows deleted from dlt's merge staging

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


def _tables(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], set[str]]:
    """(schema, table) -> column names, for every base table of the file."""
    found: dict[tuple[str, str], set[str]] = {}
    for schema, table, column in con.execute(
        "select c.table_schema, c.table_name, c.column_name from information_schema.columns c "
        "join information_schema.tables t using (table_catalog, table_schema, table_name) "
        "where t.table_type = 'BASE TABLE' and c.table_catalog = current_database()"
    ).fetchall():
        found.setdefault((schema, table), set()).add(column)
    return found


def _delete(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> int:
    return con.execute(sql, params).fetchone()[0]


def apply_retention(warehouse: Path, days: int | None = None, now: datetime | None = None) -> RetentionResult:
    """Delete the event rows older than ``days`` (default :func:`retention_days`) before ``now`` (default: the
    current time, UTC) from ``warehouse``; returns what was deleted, per table."""
    days = retention_days() if days is None else days
    if days < 1:
        raise ValueError(f"retention must be at least 1 day, not {days}")
    cutoff = (now or datetime.now(timezone.utc)) - timedelta(days=days)
    deleted, children, staging = {}, {}, {}
    with duckdb.connect(str(warehouse)) as con:
        tables = _tables(con)
        con.execute("begin transaction")
        try:
            for (schema, table), column in EVENT_TABLES.items():
                name = f'"{schema}"."{table}"'
                if column not in tables.get((schema, table), ()):
                    deleted[f"{schema}.{table}"] = 0  # not loaded yet
                    continue
                old = f"select _dlt_id from {name} where {column} < ?"
                for (s, child), columns in sorted(tables.items()):
                    if (s == schema and child.startswith(f"{table}__") and not child.endswith("__quarantine")
                            and "_dlt_root_id" in columns):
                        children[f"{schema}.{child}"] = _delete(
                            con, f'delete from "{s}"."{child}" where _dlt_root_id in ({old})', [cutoff]
                        )
                deleted[f"{schema}.{table}"] = _delete(con, f"delete from {name} where {column} < ?", [cutoff])
                stage = f"_dlt_staging_{schema}"
                if column in tables.get((stage, table), ()):
                    staging[f"{stage}.{table}"] = _delete(
                        con, f'delete from "{stage}"."{table}" where {column} < ?', [cutoff]
                    )
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        con.execute("checkpoint")
    return RetentionResult(cutoff, days, deleted, children, staging)
