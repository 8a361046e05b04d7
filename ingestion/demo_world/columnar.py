"""Rows held as columns: the demo world's bulk tables at scale.

A :class:`ColumnRows` is what the world's other tables are, a sequence of dicts (``len``, indexing, slicing,
iteration, ``==`` with a list), but it keeps its rows as a :class:`pyarrow.Table`: a few bytes a row instead of a
Python dict each, and writers turn it into files without ever building the dicts (:func:`ndjson_lines`). Rows are
materialised only for whoever reads them one by one (tests, :mod:`ingestion.demo_world.cut`), a batch at a time.

``to_row`` maps one row of the table (a dict of its columns) to the dict the source system holds, so the table may
keep a value in more than one typed column (an integer and a float one) where the source has a single JSON field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

BATCH = 65_536


class ColumnRows(Sequence):
    """A read-only sequence of dicts backed by a pyarrow Table (see the module's docstring)."""

    def __init__(self, table: pa.Table, to_row: Callable[[dict], dict] | None = None,
                 to_json: Callable[[pa.Table], pa.Array] | None = None):
        self.table = table
        self._to_row = to_row
        # rows of a slice of the table -> each row's JSON object and a newline (ndjson_line_array); needed with to_row
        self._to_json = to_json

    def where(self, column: str, value: Any) -> "ColumnRows":
        """The rows whose ``column`` (a column of the table) equals ``value``."""
        return ColumnRows(self.table.filter(pc.equal(self.table[column], value)), self._to_row, self._to_json)

    def _rows(self, table: pa.Table) -> list[dict]:
        rows = table.to_pylist()
        return [self._to_row(row) for row in rows] if self._to_row else rows

    def __len__(self) -> int:
        return self.table.num_rows

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step == 1:
                return self._rows(self.table.slice(start, max(stop - start, 0)))
            return [self[i] for i in range(start, stop, step)]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._rows(self.table.slice(index, 1))[0]

    def __iter__(self) -> Iterator[dict]:
        for start in range(0, len(self), BATCH):
            yield from self._rows(self.table.slice(start, BATCH))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ColumnRows):
            return self.table.equals(other.table)
        if isinstance(other, Sequence):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    def __repr__(self) -> str:
        return f"ColumnRows({len(self)} rows: {', '.join(self.table.column_names)})"

    def __reduce__(self):
        return (ColumnRows, (self.table, self._to_row, self._to_json))


def json_text(values: pa.Array) -> pa.Array:
    """Strings as JSON string literals (quoted; only ids and ISO times here: no character needs escaping)."""
    if pc.any(pc.match_substring_regex(values, r'["\\\x00-\x1f]')).as_py():
        raise ValueError("json_text: a value needs escaping")
    return pc.binary_join_element_wise('"', values, '"', "")


def ndjson_line_array(fields: list[tuple[str, pa.Array]]) -> pa.Array:
    """One JSON object a row (with its newline), from columns of JSON literals (``json_text`` for strings; numbers
    cast to string; a list of such arrays and constant strings for a nested value), keys in the order given. Nulls are
    not supported."""
    parts: list[Any] = []
    for n, (name, literal) in enumerate(fields):
        parts.append(("{" if n == 0 else ",") + f'"{name}":')
        parts.extend(literal if isinstance(literal, list) else [literal])  # a list: pieces of a nested value
    parts.append("}\n")
    lines = pc.binary_join_element_wise(*parts, "")
    if lines.null_count:
        raise ValueError("ndjson_line_array: null values")
    return lines


def ndjson_bytes(lines: pa.Array | pa.ChunkedArray) -> bytes:
    """The lines of ``ndjson_line_array`` as one file's bytes."""
    if isinstance(lines, pa.ChunkedArray):
        return b"".join(ndjson_bytes(chunk) for chunk in lines.chunks)
    lines = lines.cast(pa.large_string())
    offsets, data = lines.buffers()[1], lines.buffers()[2]
    if data is None or len(lines) == 0:
        return b""
    bounds = np.frombuffer(offsets, dtype=np.int64)
    first, last = int(bounds[lines.offset]), int(bounds[lines.offset + len(lines)])
    return memoryview(data)[first:last].tobytes()


def ndjson_lines(fields: list[tuple[str, pa.Array]]) -> bytes:
    """``ndjson_bytes(ndjson_line_array(fields))``: the bytes of a whole NDJSON file."""
    return ndjson_bytes(ndjson_line_array(fields))


def json_literals(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """A column's values as JSON literals (strings quoted, numbers and booleans as JSON writes them, null)."""
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        literal = json_text(column)
    elif pa.types.is_integer(kind):
        literal = pc.cast(column, pa.string())
    elif pa.types.is_boolean(kind):
        literal = pc.if_else(column, "true", "false")
    else:
        raise TypeError(f"json_literals: no JSON literal for {kind}")
    return pc.fill_null(literal, "null") if column.null_count else literal


def write_json_array(rows: ColumnRows, path, batch: int = 262_144) -> None:
    """``rows`` as one JSON array of objects (keys in the table's column order, compact, UTF-8) at ``path``, written
    a batch of rows at a time (what ``orjson.dumps(list(rows))`` writes, without the dicts)."""
    table = rows.table
    if rows._to_row is not None and rows._to_json is None:
        raise ValueError("write_json_array: rows with a row mapping need their JSON mapping (to_json)")
    with open(path, "wb") as out:
        out.write(b"[")
        for start in range(0, table.num_rows, batch):
            part = table.slice(start, batch)
            if rows._to_json is not None:
                lines = rows._to_json(part)
            else:
                lines = ndjson_line_array([(name, json_literals(part[name])) for name in part.column_names])
            # a line per row (no value holds a raw newline: json_text refuses control characters) -> array items
            body = ndjson_bytes(lines)[:-1].replace(b"\n", b",")
            if start:
                out.write(b",")
            out.write(body)
        out.write(b"]")


_CLOCK = None


def _clock() -> pa.Array:
    """"HH:MM:SS" of every second of a day."""
    global _CLOCK
    if _CLOCK is None:
        _CLOCK = pa.array([f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400)], pa.string())
    return _CLOCK


def utc_text(seconds: np.ndarray, sep: str = "T", suffix: str = "Z") -> pa.Array:
    """Epoch seconds as UTC ``YYYY-MM-DD<sep>HH:MM:SS<suffix>`` strings (``generator.iso``'s format by default),
    vectorised: each distinct day formatted once, the time of day taken from a table of a day's seconds."""
    day, second = np.divmod(np.asarray(seconds, dtype=np.int64), 86_400)
    days, index = np.unique(day, return_inverse=True)
    day_text = pa.array(np.datetime_as_string(days.astype("datetime64[D]"), unit="D").astype(object), pa.string())
    text = pc.binary_join_element_wise(day_text.take(pa.array(index.astype(np.int64))), _clock().take(pa.array(second)), sep)
    return pc.binary_join_element_wise(text, suffix, "") if suffix else text


def utc_hour_text(seconds: np.ndarray) -> pa.Array:
    """Epoch seconds as their UTC hour, ``YYYYMMDDHH`` (``f"{at:%Y%m%d%H}"``), vectorised like ``utc_text``."""
    day, second = np.divmod(np.asarray(seconds, dtype=np.int64), 86_400)
    days, index = np.unique(day, return_inverse=True)
    day_text = np.char.replace(np.datetime_as_string(days.astype("datetime64[D]"), unit="D"), "-", "")
    hours = pa.array([f"{h:02d}" for h in range(24)], pa.string())
    return pc.binary_join_element_wise(pa.array(day_text.astype(object), pa.string()).take(pa.array(index.astype(np.int64))),
                                       hours.take(pa.array(second // 3600)), "")
