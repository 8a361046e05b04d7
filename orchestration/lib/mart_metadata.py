"""Row count, columns and a preview for every mart, attached to its materialization in Dagster.

``dagster/column_schema``: every column with the warehouse's type and the description from the dbt YAML (the
manifest). Key marts get a plot (mart_plots.py: sessions per day, the CLV histogram); the CLV fit and its marts
their parameters, log-likelihood and backtest plot (clv_metadata.py).
Read after dbt has finished (DuckDB has one writer: a read-only connection while dbt builds would wait or
fail), through one short read-only connection. Columns whose dbt ``meta`` says ``pii: true`` never reach the
preview: e-mails and names stay out of the event log.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Iterable, Iterator

import dagster as dg

MART_SCHEMA = "marts"
PREVIEW_ROWS = 5


def _models(manifest_path: Path) -> list[dict]:
    manifest = json.loads(Path(manifest_path).read_text())
    return [n for n in manifest["nodes"].values() if n.get("resource_type") == "model"]


def pii_columns(manifest_path: Path) -> dict[str, set[str]]:
    """Model name -> its columns documented with ``meta: {pii: true}`` (column meta or config meta)."""
    out: dict[str, set[str]] = {}
    for node in _models(manifest_path):
        pii = {
            name
            for name, column in node.get("columns", {}).items()
            if (column.get("meta") or {}).get("pii") or ((column.get("config") or {}).get("meta") or {}).get("pii")
        }
        out[node["name"]] = pii
    return out


def column_descriptions(manifest_path: Path) -> dict[str, dict[str, str]]:
    """Model name -> column name (lower case) -> its description in the dbt YAML (with its unit when it has one)."""
    out: dict[str, dict[str, str]] = {}
    for node in _models(manifest_path):
        described = {}
        for name, column in node.get("columns", {}).items():
            meta = {**(column.get("meta") or {}), **((column.get("config") or {}).get("meta") or {})}
            text = (column.get("description") or "").strip()
            if meta.get("unit"):
                text = f"{text} [{meta['unit']}]".strip()
            described[name.lower()] = text
        out[node["name"]] = described
    return out


def column_schema(con, table: str, descriptions: dict[str, str]) -> dg.TableSchema:
    """Every column of ``marts.<table>`` in order, with the warehouse's type and the YAML's description."""
    described = con.execute(
        "select column_name, data_type, is_nullable from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [MART_SCHEMA, table],
    ).fetchall()
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=name,
                type=str(dtype).lower(),
                description=descriptions.get(name.lower()) or None,
                constraints=dg.TableColumnConstraints(nullable=nullable == "YES"),
            )
            for name, dtype, nullable in described
        ]
    )


def _cell(value) -> str | int | float | bool | None:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def mart_metadata(
    con, table: str, hidden: set[str], descriptions: dict[str, str] | None = None
) -> dict[str, dg.MetadataValue]:
    """``dagster/row_count``, ``dagster/column_schema`` (types and descriptions), a ``preview`` table of the first
    rows (by the first column) without ``hidden``, and the mart's plot if it has one."""
    from orchestration.lib.mart_plots import mart_plots

    described = con.execute(f"describe {MART_SCHEMA}.{table}").fetchall()
    columns = [(name, dtype) for name, dtype, *_ in described if name not in hidden]
    rows = con.execute(f"select count(*) from {MART_SCHEMA}.{table}").fetchone()[0]
    metadata: dict[str, dg.MetadataValue] = {
        "dagster/row_count": dg.MetadataValue.int(int(rows)),
        "dagster/column_schema": dg.MetadataValue.table_schema(column_schema(con, table, descriptions or {})),
    }
    if columns:
        names = ", ".join(f'"{name}"' for name, _ in columns)
        preview = con.execute(f"select {names} from {MART_SCHEMA}.{table} order by 1 limit {PREVIEW_ROWS}").fetchall()
        schema = dg.TableSchema(columns=[dg.TableColumn(name=name, type=str(dtype)) for name, dtype in columns])
        records = [dg.TableRecord({name: _cell(v) for (name, _), v in zip(columns, row)}) for row in preview]
        metadata["preview"] = dg.MetadataValue.table(records=records, schema=schema)
    if hidden:
        metadata["preview_hides"] = dg.MetadataValue.text(", ".join(sorted(hidden)) + " (personal data)")
    return metadata | mart_plots(con, table)


def with_mart_metadata(
    events: Iterable, context: dg.AssetExecutionContext, warehouse: Path, manifest_path: Path
) -> Iterator:
    """Pass dbt's events on; materializations of marts get their row count and preview once dbt is done.

    The CLV fit (intermediate.int_clv__fits) is held like a mart: its parameters and backtest plot are read then.
    Events go through at once until the first mart materializes; from there on every event is held, in
    order (models downstream of a mart must not be reported before it), until the stream ends or fails —
    what did materialize is still reported — because the warehouse is readable only once dbt has let go.
    """
    import duckdb

    from orchestration.lib.clv_metadata import CLV_ASSETS, clv_metadata

    held: list = []
    marts: dict[int, str] = {}  # index in held -> mart table
    extras: dict[int, tuple[str, ...]] = {}  # index in held -> key of an asset with metadata of its own (the CLV fit)

    def released():
        con = None
        if marts or extras:
            try:
                con = duckdb.connect(str(warehouse), read_only=True)
            except duckdb.Error as error:  # a writer elsewhere holds it: report without the metadata
                context.log.warning(f"mart row counts unavailable: {type(error).__name__}")
        hidden = pii_columns(manifest_path) if con is not None else {}
        described = column_descriptions(manifest_path) if con is not None else {}
        try:
            for n, event in enumerate(held):
                table = marts.get(n)
                if table is not None and con is not None:
                    event = event.with_metadata({**event.metadata, **mart_metadata(con, table, hidden.get(table, set()), described.get(table))})
                if n in extras and con is not None:
                    event = event.with_metadata({**event.metadata, **clv_metadata(con, extras[n])})
                yield event
        finally:
            if con is not None:
                con.close()

    try:
        for event in events:
            key = context.asset_key_for_output(event.output_name) if isinstance(event, dg.Output) else None
            if key is not None and len(key.path) == 2 and key.path[0] == MART_SCHEMA:
                marts[len(held)] = key.path[1]
            if key is not None and tuple(key.path) in CLV_ASSETS:
                extras[len(held)] = tuple(key.path)
            if held or marts or extras:
                held.append(event)
            else:
                yield event
    except Exception:
        yield from released()
        raise
    yield from released()
