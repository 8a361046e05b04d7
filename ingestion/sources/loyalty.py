"""The loyalty programme and point-of-sale database: any SQLAlchemy URL (a SQLite file in the demo,
PostgreSQL in production).

Each table is one dlt resource that yields typed Arrow tables (the declared contract below), merged on the
table's primary key. What each run does, per table:

1. **Key scan** (the primary key column only): the keys the source holds now. Real POS databases delete rows
   outright, so every key that is in the warehouse but no longer in the source is sent again as a delete
   marker (``_deleted = true``, dlt's ``hard_delete`` hint): the row leaves raw, and every model built on it.
   A source that soft-deletes (a ``deleted_at`` column, as the demo POS has) is honoured the same way. The
   warehouse's keys are read once per run through the running pipeline's destination client. A source table
   that is empty while raw has rows is an error (a wrong database), never a mass delete.
2. **Incremental read** on ``updated_at``, compared as a UTC timestamp (the POS stores UTC in naive
   ``DateTime`` columns; raw holds ``timestamptz``). Each run starts ``lag_seconds`` before the last cursor
   (config ``sources.loyalty.lag_seconds``, env ``SOURCES__LOYALTY__LAG_SECONDS``, default 6 hours), so a
   till that syncs late, inserting rows dated before the cursor, is still read, and a change that keeps the
   ``updated_at`` of the row at the cursor is read again (the range is closed; merge makes re-reads
   idempotent). A row synced later than the lag window after the newest row needs a wider window for one run
   (raise ``lag_seconds``): it is not found otherwise.
3. **Future rows**: a row whose ``updated_at`` lies more than ``future_tolerance_seconds`` (default one day)
   in the future is not loaded and never moves the cursor; it goes to ``loyalty.<table>__quarantine`` (key and
   reason only) on every run until it is no longer in the future, and then loads like any other row.
4. **Contract**: declared columns and types (:data:`TABLES`); a value that does not fit its declared type
   sends its row to quarantine (reason: column and expected type, never the value). A column the contract
   does not know is loaded with the type the database declares and reported in the log; it keeps the type it
   was first loaded with (values that no longer fit are quarantined, never a variant column). E-mails and phones
   are normalised as identifiers (Unicode NFKC, every whitespace and zero-width character removed), names
   as text (NFKC, trimmed).

Orphans (a receipt whose card, a points row whose member is not in the loyalty tables yet) are loaded like
any other row; the dbt staging tests report them.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Iterator

import dlt
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from dlt.extract.items import DataItemWithMeta

from ._contracts import Cursor, normalize_identifier, normalize_text, quarantine_item, quarantine_row

log = logging.getLogger(__name__)

DEFAULT_LAG_SECONDS = 6 * 3600
DEFAULT_FUTURE_TOLERANCE_SECONDS = 24 * 3600
CURSOR = "updated_at"
SOFT_DELETE = "deleted_at"
DELETED = "_deleted"


# --- the contract ---------------------------------------------------------------------------------------------
# Declared here rather than with ``_contracts.Contract``: the POS schema is the contract (``Numeric(12, 2)`` stays
# DECIMAL(12,2)), and the values come as database driver types (SQLite: naive text), not JSON records.
@dataclass(frozen=True)
class Col:
    name: str
    type: str  # text | bigint | bool | decimal | timestamp
    nullable: bool = True
    identifier: bool = False  # a match key: every whitespace removed
    normalize: bool = False  # free text: NFKC and trimmed

    @property
    def arrow_type(self) -> pa.DataType:
        return {
            "text": pa.string(),
            "bigint": pa.int64(),
            "bool": pa.bool_(),
            "decimal": pa.decimal128(12, 2),
            "timestamp": pa.timestamp("us", tz="UTC"),
            "double": pa.float64(),
            "date": pa.date32(),
        }[self.type]

    def dlt_hint(self, key: bool) -> dict:
        hint: dict[str, Any] = {"data_type": self.type, "nullable": not key}
        if self.type == "decimal":
            hint.update(precision=12, scale=2)
        if self.type == "timestamp":
            hint.update(timezone=True)
        return hint


@dataclass(frozen=True)
class Table:
    name: str
    key: str
    columns: tuple[Col, ...]


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table("members", "member_id", (
            Col("member_id", "text", nullable=False),
            Col("email", "text", identifier=True),
            Col("phone", "text", identifier=True),
            Col("first_name", "text", normalize=True),
            Col("last_name", "text", normalize=True),
            Col("postcode", "text", normalize=True),
            Col("city", "text", normalize=True),
            Col("birth_year", "bigint"),
            Col("marketing_opt_in", "bool", nullable=False),
            Col("joined_at", "timestamp", nullable=False),
            Col("updated_at", "timestamp", nullable=False),
        )),
        Table("cards", "card_number", (
            Col("card_number", "text", nullable=False),
            Col("member_id", "text", nullable=False),
            Col("status", "text", nullable=False, normalize=True),
            Col("issued_at", "timestamp", nullable=False),
            Col("updated_at", "timestamp", nullable=False),
        )),
        Table("receipts", "receipt_id", (
            Col("receipt_id", "text", nullable=False),
            Col("card_number", "text"),
            Col("store_id", "text", nullable=False),
            Col("total_amount", "decimal", nullable=False),
            Col("purchased_at", "timestamp", nullable=False),
            Col("updated_at", "timestamp", nullable=False),
        )),
        Table("points", "points_txn_id", (
            Col("points_txn_id", "text", nullable=False),
            Col("member_id", "text", nullable=False),
            Col("receipt_id", "text"),
            Col("points", "bigint", nullable=False),
            Col("reason", "text", nullable=False, normalize=True),
            Col("created_at", "timestamp", nullable=False),
            Col("updated_at", "timestamp", nullable=False),
        )),
        # the member's consent decisions, one row per decision (purpose email_marketing | profiling | ad_audiences)
        Table("consents", "consent_id", (
            Col("consent_id", "text", nullable=False),
            Col("member_id", "text", nullable=False),
            Col("purpose", "text", nullable=False, normalize=True),
            Col("granted", "bool", nullable=False),
            Col("decided_at", "timestamp", nullable=False),
            Col("updated_at", "timestamp", nullable=False),
        )),
    )
}
PRIMARY_KEYS = {name: t.key for name, t in TABLES.items()}


# --- coercion of driver values (SQLite hands back text, PostgreSQL Python objects) ---------------------------
class _Bad(ValueError):
    pass


def to_utc(value: Any) -> datetime:
    """A naive value is UTC (the POS stores UTC without a zone); an aware one is converted."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except ValueError:
            raise _Bad("expected a timestamp") from None
    elif isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if not isinstance(value, datetime):
        raise _Bad("expected a timestamp")
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _coerce(value: Any, col: Col) -> Any:
    kind = col.type
    if kind == "text":
        if isinstance(value, (bool, float)) or not isinstance(value, (str, int, Decimal)):
            raise _Bad
        value = str(value)
        if col.identifier:
            value = normalize_identifier(value)
        elif col.normalize:
            value = normalize_text(value)
        return value or None
    if kind == "timestamp":
        return to_utc(value)
    if kind == "decimal":
        if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
            raise _Bad
        try:
            number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
        except InvalidOperation:
            raise _Bad from None
        if not number.is_finite():
            raise _Bad
        quantized = number.quantize(Decimal("0.01"))
        if quantized != number or abs(quantized) >= Decimal(10) ** 10:
            raise _Bad
        return quantized
    if kind == "bigint":
        if isinstance(value, bool):
            raise _Bad
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, (str, Decimal)) and re.fullmatch(r"\s*[+-]?\d{1,18}\s*", str(value)):
            return int(value)
        raise _Bad
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "0", "1", "t", "f"):
            return value.strip().lower() in ("true", "1", "t")
        raise _Bad
    if kind == "double":
        if isinstance(value, bool):
            raise _Bad
        try:
            return float(value)
        except (TypeError, ValueError):
            raise _Bad from None
    if kind == "date":
        return to_utc(value).date()
    raise _Bad


def _sql_type(sql_type: sa.types.TypeEngine) -> str:
    """The contract type of a column the contract does not declare, from the type the database declares."""
    if isinstance(sql_type, sa.Boolean):
        return "bool"
    if isinstance(sql_type, sa.Integer):
        return "bigint"
    if isinstance(sql_type, sa.Numeric) and not isinstance(sql_type, sa.Float):
        return "decimal" if (sql_type.scale or 0) == 2 else "double"
    if isinstance(sql_type, sa.Float):
        return "double"
    if isinstance(sql_type, sa.DateTime):
        return "timestamp"
    if isinstance(sql_type, sa.Date):
        return "date"
    return "text"


# --- reading -------------------------------------------------------------------------------------------------
class _Reader:
    """One table of the POS database: reflected columns, dialect-aware UTC comparisons on the cursor."""

    def __init__(self, engine: sa.engine.Engine, spec: Table, schema: str | None, known: dict[str, str] | None = None):
        self.engine, self.spec, self.schema = engine, spec, schema
        try:
            reflected = sa.Table(spec.name, sa.MetaData(), schema=schema, autoload_with=engine)
        except sa.exc.NoSuchTableError:
            raise ValueError(f"loyalty source: table {spec.name!r} not found in the POS database") from None
        source_columns = {c.name: c for c in reflected.columns}
        missing = [c.name for c in spec.columns if c.name not in source_columns]
        if missing:
            raise ValueError(f"loyalty source: table {spec.name!r} lacks the declared columns {missing}")
        declared = {c.name for c in spec.columns}
        # a new column keeps the type it was first loaded with, whatever the database declares later
        known = known or {}
        self.new_columns = tuple(
            Col(name, known.get(name) or _sql_type(col.type))
            for name, col in source_columns.items()
            if name not in declared | {SOFT_DELETE}
        )
        if self.new_columns:
            log.warning(
                "loyalty.%s: new source columns accepted (not in the contract): %s",
                spec.name,
                ", ".join(f"{c.name} {c.type}" for c in self.new_columns),
            )
        self.columns = spec.columns + self.new_columns
        self.soft_delete = SOFT_DELETE in source_columns
        self.sqlite = engine.dialect.name == "sqlite"
        cursor_type = source_columns[CURSOR].type
        self.cursor_aware = bool(getattr(cursor_type, "timezone", False))
        self.table = sa.table(spec.name, *(sa.column(n) for n in source_columns), schema=schema)

    def _cursor_expr(self):
        column = sa.column(CURSOR)
        # SQLite keeps timestamps as text: compare them as timestamps, in one canonical UTC form
        return sa.func.strftime("%Y-%m-%d %H:%M:%f", column) if self.sqlite else column

    def _bound(self, moment: datetime):
        if self.sqlite:
            return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        value = moment.astimezone(timezone.utc)
        return sa.bindparam(None, value if self.cursor_aware else value.replace(tzinfo=None),
                            type_=sa.DateTime(timezone=self.cursor_aware))

    def keys(self) -> pa.Array:
        """The keys of the live rows (soft-deleted ones left out, whatever their ``updated_at``)."""
        query = sa.select(sa.column(self.spec.key)).select_from(self.table)
        if self.soft_delete:
            query = query.where(sa.column(SOFT_DELETE).is_(None))
        sql = str(query.compile(dialect=self.engine.dialect))  # no parameters
        with self.engine.connect() as conn:
            cursor = conn.connection.dbapi_connection.cursor()  # plain DB-API tuples: 100k keys in a blink
            try:
                cursor.execute(sql)
                rows = cursor.fetchall()
            finally:
                cursor.close()
        return pa.array([str(r[0]) for r in rows], pa.string())

    def future_or_undated(self, horizon: datetime) -> list[tuple[str, str]]:
        cursor = self._cursor_expr()
        query = sa.select(sa.column(self.spec.key), cursor.is_(None)).select_from(self.table).where(
            sa.or_(cursor.is_(None), cursor > self._bound(horizon))
        )
        with self.engine.connect() as conn:
            return [(str(key), "updated_at: missing or not a timestamp" if undated else
                     "updated_at: dated beyond the future tolerance") for key, undated in conn.execute(query)]

    def rows(self, start: datetime | None, horizon: datetime, chunk_size: int) -> Iterator[list[tuple]]:
        cursor = self._cursor_expr()
        names = [c.name for c in self.columns] + ([SOFT_DELETE] if self.soft_delete else [])
        query = sa.select(*(sa.column(n) for n in names)).select_from(self.table).where(cursor <= self._bound(horizon))
        if start is not None:
            query = query.where(cursor >= self._bound(start))
        with self.engine.connect().execution_options(stream_results=True) as conn:
            result = conn.execute(query)
            while batch := result.fetchmany(chunk_size):
                yield batch


def _destination_keys(cache: dict) -> dict[str, pa.Array] | None:
    """The keys of every loyalty table already in the warehouse, read once per run through the running
    pipeline's destination client (None outside a pipeline run)."""
    if "keys" in cache:
        return cache["keys"]
    try:
        pipeline = dlt.current.pipeline()
    except Exception:  # iterated without a pipeline: nothing to reconcile against
        return None
    from dlt.destinations.exceptions import DatabaseUndefinedRelation

    keys: dict[str, pa.Array] = {}
    with pipeline.sql_client() as client:
        for spec in TABLES.values():
            sql = f"select {client.escape_column_name(spec.key)} from {client.make_qualified_table_name(spec.name)}"
            try:
                rows = client.execute_sql(sql) or []
            except DatabaseUndefinedRelation:
                rows = []
            keys[spec.name] = pa.array([str(r[0]) for r in rows], pa.string())
    cache["keys"] = keys
    return keys


_CONTRACT_TYPES = {"text": "text", "bigint": "bigint", "bool": "bool", "decimal": "decimal", "timestamp": "timestamp",
                   "double": "double", "date": "date"}


def _loaded_types(table: str) -> dict[str, str]:
    """Contract types of the columns raw already has (from the pipeline's schema), by name."""
    try:
        columns = dlt.current.source_schema().tables.get(table, {}).get("columns", {})
    except Exception:  # iterated outside a pipeline
        return {}
    types = {}
    for name, column in columns.items():
        kind = _CONTRACT_TYPES.get(column.get("data_type", ""))
        if kind == "decimal" and column.get("scale", 2) != 2:
            kind = "double"
        if kind:
            types[name] = kind
    return types


def _batch_table(
    reader: _Reader, batch: list[tuple], quarantine: list[dict]
) -> tuple[pa.Table | None, datetime | None, list[str]]:
    """Typed Arrow table of one batch (live rows and soft-delete markers); rows that break the contract go to
    ``quarantine``. Returns the table, the newest cursor value in it and the keys it carries."""
    spec = reader.spec
    n_cols = len(reader.columns)
    bad: dict[int, list[str]] = {}
    arrays: dict[str, pa.Array] = {}
    deleted = [r[n_cols] is not None for r in batch] if reader.soft_delete else [False] * len(batch)
    for i, col in enumerate(reader.columns):
        required = not col.nullable
        values = []
        for j, row in enumerate(batch):
            value = row[i]
            if value is None or (isinstance(value, str) and col.type != "text" and not value.strip()):
                coerced = None
            else:
                try:
                    coerced = _coerce(value, col)
                except _Bad:
                    if not deleted[j]:  # a soft-deleted row is deleted whatever it holds
                        bad.setdefault(j, []).append(f"{col.name}: expected {col.type}")
                    values.append(None)
                    continue
            if coerced is None and required and not deleted[j]:
                bad.setdefault(j, []).append(f"{col.name}: missing")
            values.append(coerced)
        arrays[col.name] = pa.array(values, col.arrow_type)
    keys = [str(row[0]) if row[0] is not None else None for row in batch]
    for j, reasons in bad.items():
        quarantine.append(
            {
                "record_key": keys[j],
                "source_position": f"{spec.name} {spec.key}={keys[j]}",
                "reason": "; ".join(reasons),
            }
        )
    keep = [j not in bad and keys[j] is not None for j in range(len(batch))]
    arrays[DELETED] = pa.array(deleted, pa.bool_())
    table = pa.table(arrays, schema=_schema(reader))
    if not all(keep):
        table = table.filter(pa.array(keep))
    if table.num_rows == 0:
        return None, None, []
    # a soft-deleted row carries its key only: the marker deletes it, nothing of the person is kept
    if reader.soft_delete and any(deleted):
        mask = table.column(DELETED)
        table = pa.table(
            {
                f.name: table.column(f.name) if f.name in (spec.key, DELETED)
                else pc.if_else(mask, pa.scalar(None, f.type), table.column(f.name))
                for f in table.schema
            },
            schema=table.schema,
        )
    newest = pc.max(table.column(CURSOR)).as_py() if CURSOR in table.column_names else None
    return table, newest, table.column(spec.key).to_pylist()


def _schema(reader: _Reader) -> pa.Schema:
    return pa.schema(
        [pa.field(c.name, c.arrow_type, nullable=c.name != reader.spec.key) for c in reader.columns]
        + [pa.field(DELETED, pa.bool_())]
    )


def _delete_markers(reader: _Reader, keys: pa.Array) -> pa.Table:
    schema = _schema(reader)
    return pa.table(
        {
            f.name: keys if f.name == reader.spec.key
            else pa.array([True] * len(keys), pa.bool_()) if f.name == DELETED
            else pa.nulls(len(keys), f.type)
            for f in schema
        },
        schema=schema,
    )


def _table_resource(
    spec: Table,
    engine_factory: Callable[[], sa.engine.Engine],
    schema: str | None,
    chunk_size: int,
    lag: timedelta,
    tolerance: timedelta,
    cache: dict,
):
    hints = {c.name: c.dlt_hint(c.name == spec.key) for c in spec.columns}
    hints[DELETED] = {"data_type": "bool", "nullable": True, "hard_delete": True}

    # The column hints go with the data items, as the table's own variant: hints given to the resource would
    # also be copied into the ``<table>__quarantine`` variant (dlt starts a variant from the resource's hints).
    data_hints = dlt.mark.make_hints(table_name=spec.name, primary_key=spec.key, write_disposition="merge", columns=hints)

    @dlt.resource(name=spec.name, primary_key=spec.key, write_disposition="merge")
    def read_table() -> Iterator[Any]:
        engine = engine_factory()
        try:
            for item in _read(spec, engine, schema, chunk_size, lag, tolerance, cache):
                yield item if isinstance(item, DataItemWithMeta) else dlt.mark.with_hints(item, data_hints, create_table_variant=True)
        finally:
            engine.dispose()

    return read_table


def _read(
    spec: Table, engine, schema, chunk_size: int, lag: timedelta, tolerance: timedelta, cache: dict
) -> Iterator[Any]:
    state = dlt.current.resource_state()
    reader = _Reader(engine, spec, schema, _loaded_types(spec.name))
    now = datetime.now(timezone.utc)
    horizon = now + tolerance
    cursor = Cursor(lag=lag, state=state)
    start = cursor.start if cursor.last_value else None

    # 1. the keys the source holds now, before any row is read (a row deleted during the run waits for the next)
    source_keys = reader.keys()
    known = _destination_keys(cache)
    warehouse_keys = None if known is None else known.pop(spec.name, None)
    if warehouse_keys is None and known is not None:  # a source object used for a second run: read again
        cache.pop("keys", None)
        warehouse_keys = _destination_keys(cache).pop(spec.name)

    # 2. rows changed since the cursor, less the lag window; future-dated rows are left for quarantine
    quarantine: list[dict] = [
        {"record_key": key, "source_position": f"{spec.name} {spec.key}={key}", "reason": reason}
        for key, reason in reader.future_or_undated(horizon)
    ]
    read_keys: list[str] = []
    newest = None
    buffered: list[pa.Table] = []
    for batch in reader.rows(start, horizon, chunk_size):
        table, batch_newest, keys = _batch_table(reader, batch, quarantine)
        if table is None:
            continue
        read_keys += keys
        if batch_newest is not None and (newest is None or batch_newest > newest):
            newest = batch_newest
        buffered.append(table)
        if sum(t.num_rows for t in buffered) >= 10_000:
            yield pa.concat_tables(buffered)
            buffered = []
    if buffered:
        yield pa.concat_tables(buffered)

    # 3. keys in the warehouse that the source no longer has: delete markers
    if warehouse_keys is not None and len(warehouse_keys):
        if len(source_keys) == 0:
            raise ValueError(
                f"loyalty source: table {spec.name!r} is empty in the POS database but raw holds {len(warehouse_keys)} "
                "rows; refusing to delete them all (is the source pointed at the right database?)"
            )
        gone = pc.filter(warehouse_keys, pc.invert(pc.is_in(warehouse_keys, value_set=source_keys)))
        if read_keys and len(gone):
            gone = pc.filter(gone, pc.invert(pc.is_in(gone, value_set=pa.array(read_keys, pa.string()))))
        if len(gone):
            log.info("loyalty.%s: %d rows deleted in the source", spec.name, len(gone))
            yield _delete_markers(reader, gone)

    if quarantine:
        log.warning("loyalty.%s: %d rows quarantined", spec.name, len(quarantine))
        yield quarantine_item(
            spec.name, [quarantine_row(spec.name, q["record_key"], q["source_position"], q["reason"], now) for q in quarantine]
        )

    cursor.advance(newest)  # committed with the load: a failed run leaves it where it was


@dlt.source(name="loyalty")
def loyalty_source(
    credentials: str = dlt.secrets.value,
    schema: str | None = None,
    chunk_size: int = 10_000,
    lag_seconds: float = DEFAULT_LAG_SECONDS,
    future_tolerance_seconds: float = DEFAULT_FUTURE_TOLERANCE_SECONDS,
):
    """The POS tables; ``lag_seconds``: how far before the cursor each run starts reading again (late tills)."""
    lag = timedelta(seconds=float(lag_seconds))
    tolerance = timedelta(seconds=float(future_tolerance_seconds))

    def engine_factory() -> sa.engine.Engine:
        return sa.create_engine(credentials) if isinstance(credentials, str) else sa.create_engine(str(credentials))

    cache: dict = {}  # per source object, so per run: the warehouse's keys, read once
    for spec in TABLES.values():
        yield _table_resource(spec, engine_factory, schema, chunk_size, lag, tolerance, cache)
