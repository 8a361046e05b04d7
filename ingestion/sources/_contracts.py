"""What may land in raw: typed contracts, quarantine, and an incremental cursor that cannot be fooled.

Every resource declares its columns (:class:`Contract`). :func:`conform` turns a batch of source records into

- one Arrow table of the accepted records, typed exactly as declared (so a column never takes its type from
  whichever row came first, and never splits into ``__v_text`` variants), text normalised with Unicode NFKC,
  match keys (e-mail, phone, handle) stripped of every whitespace and zero-width character, and only the
  newest version of each primary key (a batch can carry a record twice);
- Arrow tables of the accepted records' nested lists (child tables such as ``orders__lines``);
- quarantine rows for the records that break the contract, with the reason (column names and expected
  types, never values) and the source position (``<table>__quarantine``, see :func:`quarantine_item`);
- the names of columns the contract does not know yet: accepted as text and reported, never dropped.

:class:`Cursor` is the incremental position of a resource, kept in dlt's resource state (which dlt commits
with the load, so a failed run leaves it where it was). Cursors compare as UTC timestamps; each run starts a
lag window before the last position (late updates and ties at the cursor are read again; merge keys make
that idempotent); records dated beyond ``now + future tolerance`` are quarantined by :func:`conform` and
never move the cursor.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Sequence

import dlt
import pyarrow as pa
import pyarrow.compute as pc

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
DEFAULT_LAG = timedelta(hours=1)
DEFAULT_FUTURE_TOLERANCE = timedelta(days=1)
BATCH_ROWS = 10_000

# Whitespace Python's str.split() knows, plus the invisible characters people paste with an address.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
_ALL_SPACE = re.compile(rf"[\s{_INVISIBLE}]+")


def normalize_text(value: str) -> str:
    """Unicode NFKC, leading and trailing whitespace and zero-width characters removed."""
    if not value.isascii():
        value = unicodedata.normalize("NFKC", value)
        return value.strip().strip(_INVISIBLE).strip()
    return value.strip()


def normalize_identifier(value: str) -> str:
    """A match key as typed anywhere: NFKC, and every whitespace or zero-width character removed (case kept)."""
    if not value.isascii():
        value = unicodedata.normalize("NFKC", value)
    return _ALL_SPACE.sub("", value)


_SPACE_CLASS = r"[\s\pZ\x{200B}\x{200C}\x{200D}\x{2060}\x{FEFF}\x{00AD}\x{0085}]"


def normalize_text_array(array: pa.Array, *, identifier: bool = False) -> pa.Array:
    """:func:`normalize_text` (or :func:`normalize_identifier`) over an Arrow string array; empty becomes NULL."""
    array = pc.utf8_normalize(array, form="NFKC")
    pattern = f"{_SPACE_CLASS}+" if identifier else f"^{_SPACE_CLASS}+|{_SPACE_CLASS}+$"
    array = pc.replace_substring_regex(array, pattern=pattern, replacement="")
    return pc.if_else(pc.equal(array, ""), pa.scalar(None, pa.string()), array)


# --- the contract -------------------------------------------------------------------------------------------

ARROW_TYPES = {
    "text": pa.string(),
    "bigint": pa.int64(),
    "double": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
    "json": pa.string(),
}


@dataclass(frozen=True)
class Col:
    """A declared column. ``identifier`` marks a match key (e-mail, phone, handle): every space is removed."""

    name: str
    type: str  # text | bigint | double | decimal | bool | timestamp | date | json
    nullable: bool = True
    identifier: bool = False
    scale: int = 2  # decimals only

    def __post_init__(self) -> None:
        if self.type not in (*ARROW_TYPES, "decimal"):
            raise ValueError(f"column {self.name}: unknown type {self.type!r}")

    @property
    def arrow_type(self) -> pa.DataType:
        return pa.decimal128(18, self.scale) if self.type == "decimal" else ARROW_TYPES[self.type]


@dataclass(frozen=True)
class Child:
    """A nested list of each record, loaded as its own table (``<parent table>__<field>``).

    Each child row gets ``parent_key`` = the parent's ``parent_field``; the child table is replaced per parent
    on merge (dlt ``merge_key``), so a line removed from an order disappears too.
    """

    field: str
    contract: "Contract"
    parent_key: str
    parent_field: str = "id"


@dataclass(frozen=True)
class Contract:
    table: str
    columns: tuple[Col, ...]
    primary_key: tuple[str, ...]
    cursor: str | None = None
    children: tuple[Child, ...] = ()

    def __post_init__(self) -> None:
        names = {c.name for c in self.columns}
        missing = [k for k in (*self.primary_key, *([self.cursor] if self.cursor else [])) if k not in names]
        if missing:
            raise ValueError(f"{self.table}: key or cursor columns not declared: {missing}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def arrow_schema(self, extra: Sequence[str] = ()) -> pa.Schema:
        fields = [pa.field(c.name, c.arrow_type, nullable=c.nullable and c.name not in self.primary_key) for c in self.columns]
        fields += [pa.field(name, pa.string()) for name in extra]
        return pa.schema(fields)

    def child_hints(self, child: Child) -> dict:
        return dlt.mark.make_hints(
            table_name=child.contract.table,
            write_disposition="merge",
            primary_key=[],
            merge_key=child.parent_key,
        )


# Raw tables may gain columns (reported), never change a declared type (quarantined before dlt sees it).
SCHEMA_CONTRACT = {"tables": "evolve", "columns": "evolve", "data_type": "freeze"}


# --- coercion ------------------------------------------------------------------------------------------------


class _Bad(ValueError):
    pass


def _to_text(value: Any, col: Col) -> str:
    if not isinstance(value, str):
        raise _Bad(f"{col.name}: expected text")
    return normalize_identifier(value) if col.identifier else normalize_text(value)


def _to_bigint(value: Any, col: Col) -> int:
    if isinstance(value, bool):
        raise _Bad(f"{col.name}: expected an integer")
    if isinstance(value, int):
        if -(2**63) <= value < 2**63:
            return value
        raise _Bad(f"{col.name}: integer out of range")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d{1,18}\s*", value):
        return int(value)
    raise _Bad(f"{col.name}: expected an integer")


def _to_double(value: Any, col: Col) -> float:
    if isinstance(value, bool):
        raise _Bad(f"{col.name}: expected a number")
    if isinstance(value, (int, float, Decimal)):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            raise _Bad(f"{col.name}: expected a number") from None
    else:
        raise _Bad(f"{col.name}: expected a number")
    if not math.isfinite(result):
        raise _Bad(f"{col.name}: expected a finite number")
    return result


def _to_decimal(value: Any, col: Col) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise _Bad(f"{col.name}: expected a decimal")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise _Bad(f"{col.name}: expected a decimal") from None
    if not number.is_finite():
        raise _Bad(f"{col.name}: expected a finite decimal")
    quantized = number.quantize(Decimal(1).scaleb(-col.scale))
    if quantized != number:
        raise _Bad(f"{col.name}: more than {col.scale} decimal places")
    if abs(quantized) >= Decimal(10) ** (18 - col.scale):
        raise _Bad(f"{col.name}: decimal out of range")
    return quantized


def _to_bool(value: Any, col: Col) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise _Bad(f"{col.name}: expected true or false")


def parse_timestamp(value: Any, name: str = "value") -> datetime:
    """A point in time as UTC. Text must be ISO-8601 with a time zone; naive datetimes are taken as UTC
    (SQL sources store UTC without a zone)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    if not isinstance(value, str):
        raise _Bad(f"{name}: expected an ISO-8601 timestamp")
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise _Bad(f"{name}: expected an ISO-8601 timestamp") from None
    if parsed.tzinfo is None:
        raise _Bad(f"{name}: timestamp without a time zone")
    return parsed.astimezone(timezone.utc)


def _to_timestamp(value: Any, col: Col) -> datetime:
    return parse_timestamp(value, col.name)


def _to_date(value: Any, col: Col) -> date:
    if isinstance(value, datetime):
        raise _Bad(f"{col.name}: expected a date")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _Bad(f"{col.name}: expected an ISO-8601 date")


def _to_json(value: Any, col: Col) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


_COERCE = {
    "text": _to_text,
    "bigint": _to_bigint,
    "double": _to_double,
    "decimal": _to_decimal,
    "bool": _to_bool,
    "timestamp": _to_timestamp,
    "date": _to_date,
    "json": _to_json,
}


def _record_key(record: Any, contract: Contract) -> str | None:
    if not isinstance(record, dict):
        return None
    values = [record.get(k) for k in contract.primary_key]
    if any(v is None or isinstance(v, (dict, list)) for v in values):
        return None
    return "|".join(str(v) for v in values)


_FAST_TYPES = {
    "bigint": {int},
    "double": {int, float},
    "bool": {bool},
    "decimal": {str},
    "timestamp": {str},
}
_NONE = type(None)


def _column(values: list, col: Col, errors: dict[int, list[str]], required: bool) -> pa.Array:
    """One column as a typed Arrow array; values that do not fit are recorded in ``errors`` (by row) and nulled.

    The common case (every value already of the wire type) is vectorised; only a column that fails it is
    coerced value by value, to find the rows to quarantine.
    """
    kinds = set(map(type, values)) - {_NONE}
    arrow_type = col.arrow_type
    array = None
    if col.type == "text" and kinds <= {str}:
        array = normalize_text_array(pa.array(values, pa.string()), identifier=col.identifier)
    elif kinds <= _FAST_TYPES.get(col.type, set()):
        try:
            array = pa.array(values, pa.string() if kinds == {str} else None)
            array = array.cast(arrow_type) if array.type != arrow_type else array
            if col.type == "double" and not pc.all(pc.is_finite(array)).as_py() in (True, None):
                array = None
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            array = None
    if array is None:  # slow path: value by value
        coerce = _COERCE[col.type]
        coerced = []
        for index, value in enumerate(values):
            if value is None or (isinstance(value, str) and col.type != "text" and not value.strip()):
                coerced.append(None)
                continue
            try:
                result = coerce(value, col)
            except _Bad as exc:
                errors.setdefault(index, []).append(str(exc))
                result = None
            coerced.append(None if result == "" and col.type == "text" else result)
        array = pa.array(coerced, arrow_type)
    if required and array.null_count:
        for index in pc.indices_nonzero(array.is_null()).to_pylist():
            if index not in errors or not any(e.startswith(f"{col.name}:") for e in errors[index]):
                errors.setdefault(index, []).append(f"{col.name}: missing")
    return array


def _columns(records: list[dict], contract: Contract, errors: dict[int, list[str]]) -> dict[str, pa.Array]:
    return {
        col.name: _column(
            [r.get(col.name) for r in records], col, errors, not col.nullable or col.name in contract.primary_key
        )
        for col in contract.columns
    }


# --- conform -------------------------------------------------------------------------------------------------


@dataclass
class Batch:
    """What :func:`conform` made of a batch of records."""

    table: pa.Table
    children: dict[str, pa.Table] = field(default_factory=dict)
    quarantine: list[dict] = field(default_factory=list)
    new_columns: set[str] = field(default_factory=set)
    max_cursor: datetime | None = None


def quarantine_row(table: str, record_key: str | None, position: str, reason: str, now: datetime) -> dict:
    anchor = record_key if record_key is not None else f"@{position}"
    digest = hashlib.sha256(f"{table}\x1f{anchor}\x1f{reason}".encode()).hexdigest()[:32]
    return {
        "quarantine_id": digest,
        "table_name": table,
        "record_key": record_key,
        "source_position": position,
        "reason": reason,
        "quarantined_at": now,
    }


QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("quarantine_id", pa.string(), nullable=False),
        pa.field("table_name", pa.string(), nullable=False),
        pa.field("record_key", pa.string()),
        pa.field("source_position", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("quarantined_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)


def quarantine_table_name(table: str) -> str:
    return f"{table}__quarantine"


def quarantine_item(table: str, rows: list[dict]):
    """Quarantine rows as an item a resource can yield: it lands in ``<table>__quarantine`` (merge on id)."""
    unique = {r["quarantine_id"]: r for r in rows}
    return dlt.mark.with_hints(
        pa.Table.from_pylist(list(unique.values()), schema=QUARANTINE_SCHEMA),
        dlt.mark.make_hints(
            table_name=quarantine_table_name(table), write_disposition="merge", primary_key="quarantine_id"
        ),
        create_table_variant=True,
    )


def _extra_column(values: list) -> pa.Array:
    return pa.array([v if v is None or isinstance(v, str) else _to_json(v, None) for v in values], pa.string())


def conform(
    records: Iterable[Any],
    contract: Contract,
    *,
    position: str | Sequence[str],
    now: datetime | None = None,
    future_tolerance: timedelta | None = DEFAULT_FUTURE_TOLERANCE,
) -> Batch:
    """Type, normalise, deduplicate and split ``records`` (see the module docstring).

    ``position`` says where the records came from: one string for the batch (``#<index>`` is appended) or
    one string per record. ``future_tolerance=None`` accepts any cursor value.
    """
    now = now or datetime.now(timezone.utc)
    records = records if isinstance(records, list) else list(records)
    positions = [f"{position}#{i}" for i in range(len(records))] if isinstance(position, str) else list(position)
    errors: dict[int, list[str]] = {}
    dicts = records
    if not all(type(r) is dict for r in records):
        dicts = [r if isinstance(r, dict) else {} for r in records]

    arrays = _columns(dicts, contract, errors)
    if future_tolerance is not None and contract.cursor:
        cursor = arrays[contract.cursor]
        late = pc.fill_null(pc.greater(cursor, pa.scalar(now + future_tolerance, cursor.type)), False)
        for index in pc.indices_nonzero(late).to_pylist():
            errors.setdefault(index, []).append(f"{contract.cursor}: in the future beyond the tolerance")

    children: dict[str, tuple[pa.Table, list[int]]] = {}
    for child in contract.children:
        children[child.contract.table] = _child_table(dicts, child, errors)

    known = set(contract.names) | {c.field for c in contract.children}
    extra = sorted(k for k in set().union(*dicts) - known if not k.startswith("_")) if dicts else []
    table = pa.Table.from_arrays(
        [*arrays.values(), *(_extra_column([r.get(k) for r in dicts]) for k in extra)],
        schema=contract.arrow_schema(extra),
    )

    for index, record in enumerate(records):  # a record that is no object has that one reason, not a list
        if not isinstance(record, dict):
            errors[index] = ["not a JSON object"]
    good = [i for i in range(len(records)) if i not in errors]
    winners = _newest_per_key(table, contract, good)
    table = table.take(pa.array(winners, pa.int64()))
    if extra:
        log.warning("%s: new column(s) accepted as text: %s", contract.table, ", ".join(extra))
    keep = pa.array(winners, pa.int64())
    max_cursor = pc.max(table[contract.cursor]).as_py() if contract.cursor and table.num_rows else None
    return Batch(
        table=table,
        children={
            name: child.filter(pc.is_in(pa.array(owners, pa.int64()), keep)) for name, (child, owners) in children.items()
        },
        quarantine=[
            quarantine_row(contract.table, _record_key(records[i], contract), positions[i], "; ".join(errors[i]), now)
            for i in sorted(errors)
        ],
        new_columns=set(extra),
        max_cursor=max_cursor,
    )


def _child_table(dicts: list[dict], child: Child, errors: dict[int, list[str]]) -> tuple[pa.Table, list[int]]:
    """The child rows of every record (with the parent's key), and the index of the record each belongs to.

    A bad child row is an error of its parent: a record is quarantined whole, never loaded in part."""
    flat: list[dict] = []
    owners: list[int] = []
    place: list[int] = []
    for index, record in enumerate(dicts):
        items = record.get(child.field)
        if items is None:
            continue
        if not isinstance(items, list):
            errors.setdefault(index, []).append(f"{child.field}: expected a list")
            continue
        parent = record.get(child.parent_field)
        for n, item in enumerate(items):
            if not isinstance(item, dict):
                errors.setdefault(index, []).append(f"{child.field}[{n}]: not a JSON object")
                continue
            flat.append({**item, child.parent_key: parent})
            owners.append(index)
            place.append(n)
    child_errors: dict[int, list[str]] = {}
    arrays = _columns(flat, child.contract, child_errors)
    for row, reasons in child_errors.items():
        errors.setdefault(owners[row], []).extend(f"{child.field}[{place[row]}].{r}" for r in reasons)
    table = pa.Table.from_arrays(list(arrays.values()), schema=child.contract.arrow_schema())
    keys = list(zip(*(table[k].to_pylist() for k in child.contract.primary_key)))
    if len(set(keys)) != len(keys):
        seen: set = set()
        for row, key in enumerate(keys):
            if key in seen:
                errors.setdefault(owners[row], []).append(f"{child.field}: duplicate {'/'.join(child.contract.primary_key)}")
            seen.add(key)
    return table, owners


def _newest_per_key(table: pa.Table, contract: Contract, good: list[int]) -> list[int]:
    """Row indexes to keep: of rows sharing a primary key, the one with the newest cursor (on a tie, the later)."""
    if len(contract.primary_key) == 1:
        column = table[contract.primary_key[0]].take(pa.array(good, pa.int64()))
        if pc.count_distinct(column).as_py() == len(good):
            return good
    keys = list(zip(*(table[k].to_pylist() for k in contract.primary_key)))
    if len({keys[i] for i in good}) == len(good):
        return good
    cursors = table[contract.cursor].to_pylist() if contract.cursor else [None] * table.num_rows
    best: dict[tuple, int] = {}
    for i in good:
        current = best.get(keys[i])
        if current is None or (cursors[i] or EPOCH) >= (cursors[current] or EPOCH):
            best[keys[i]] = i
    return sorted(best.values())


def batch_items(batch: Batch, contract: Contract):
    """The dlt items of a conformed batch: the accepted table, its child tables, its quarantine."""
    if batch.table.num_rows:
        yield batch.table
    for child in contract.children:
        table = batch.children[child.contract.table]
        if table.num_rows:
            yield dlt.mark.with_hints(table, contract.child_hints(child), create_table_variant=True)
    if batch.quarantine:
        yield quarantine_item(contract.table, batch.quarantine)


# --- the cursor ------------------------------------------------------------------------------------------------


class Cursor:
    """The incremental position of one resource, in dlt's resource state (committed with the load).

    ``start`` is where the next read begins: the last position minus the lag window (or ``initial``). Call
    :meth:`advance` with each accepted batch's newest cursor value; the state moves only forward.
    """

    STATE_KEY = "jw_cursor"

    def __init__(self, *, initial: datetime = EPOCH, lag: timedelta = DEFAULT_LAG, state: dict | None = None):
        self._state = dlt.current.resource_state() if state is None else state
        saved = self._state.get(self.STATE_KEY)
        self.last_value: datetime | None = parse_timestamp(saved) if saved else None
        self.lag = lag
        self.start = max(initial, self.last_value - lag) if self.last_value else initial

    def advance(self, value: datetime | None) -> None:
        if value is not None and (self.last_value is None or value > self.last_value):
            self.last_value = value
            self._state[self.STATE_KEY] = value.astimezone(timezone.utc).isoformat()


def seconds(value: Any, default: timedelta) -> timedelta:
    """A duration setting given in seconds (dlt config or environment), or ``default``."""
    return default if value in (None, "") else timedelta(seconds=float(value))
