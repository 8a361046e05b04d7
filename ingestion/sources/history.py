"""Historical orders: CSV and Parquet files of past transactions in a folder, read with dlt's filesystem listing.

A retailer starting with the warehouse has years of orders in exports. Every ``*.csv`` and ``*.parquet`` below the
folder (``JW_HISTORY_DIR``, recursively) is read; one row is one order. Columns (header names case-insensitive,
others ignored and reported by name):

    order_id            optional: the order's id in the system it came from (a Shopify order id for shop orders)
    shop_customer_id    \\
    loyalty_member_id    > at least one non-empty; the first non-empty one (in this order) identifies the customer
    email               /
    date                ``YYYY-MM-DD`` or ``YYYYMMDD`` (text, or a number in Parquet; a Parquet date column too)
    amount              decimal with ``.`` as separator, at most two places, not negative
    channel             optional: ``online`` or ``pos`` (any case)

Raw table ``history.orders`` (merge on ``history_order_id``: the ``order_id`` when given, else a hash of the
identifier, date, amount, channel and the row's occurrence among equal rows of its file, see
:func:`history_order_id`), typed by :data:`ORDERS_CONTRACT` and yielded as Arrow tables. A row that breaks the rules
goes to ``history.orders__quarantine`` with the reasons and ``file:line`` (CSV: the line in the file, the header is
line 1; Parquet: the row, the first is 1), never its values; a file that cannot be read at all is quarantined by name
and the other files still load. Both tables exist from the first run, even before any file arrives.

Files are read once: a file cursor (modification time, UTC, with a lag window, and the fingerprints of the files
inside it; ``iot.FileCursor``) in dlt's resource state, committed with the load. A file that changes is read again
(merge keys make that idempotent); a new file is picked up on the next run.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Iterator

import dlt
import pyarrow.parquet as pq
from dlt.sources.filesystem import filesystem

from ._contracts import (
    BATCH_ROWS,
    DEFAULT_FUTURE_TOLERANCE,
    SCHEMA_CONTRACT,
    Col,
    Contract,
    _to_decimal,
    batch_items,
    conform,
    normalize_identifier,
    quarantine_item,
    quarantine_row,
    seconds,
)
from .iot import DEFAULT_FILES_LAG, FileCursor

log = logging.getLogger(__name__)

SUFFIXES = (".csv", ".parquet")
# identifier columns and their identifier types, in the order the first non-empty one is taken
IDENTIFIER_COLUMNS = (("shop_customer_id", "shop_customer"), ("loyalty_member_id", "loyalty_member"), ("email", "history_email"))
COLUMNS = ("order_id", "shop_customer_id", "loyalty_member_id", "email", "date", "amount", "channel")
CHANNELS = ("online", "pos")

ORDERS_CONTRACT = Contract(
    "orders",
    (
        Col("history_order_id", "text", nullable=False),
        Col("order_id", "text"),
        Col("identifier_type", "text", nullable=False),
        Col("identifier_value", "text", nullable=False, identifier=True),
        Col("shop_customer_id", "text", identifier=True),
        Col("loyalty_member_id", "text", identifier=True),
        Col("email", "text", identifier=True),
        Col("ordered_on", "date", nullable=False),
        Col("amount", "decimal", nullable=False),
        Col("channel", "text"),
        Col("source_file", "text", nullable=False),
        Col("source_line", "bigint", nullable=False),
    ),
    primary_key=("history_order_id",),
)


def history_order_id(identifier_type: str, identifier_value: str, ordered_on: date, amount: Decimal,
                     channel: str | None, occurrence: int) -> str:
    """The key of a history row without an order id: a hash of its identifier, date, amount, channel and how
    many equal rows came before it in the same file (two equal purchases are two orders; the same file read
    again, or the same row in a second export, gives the same key)."""
    key = "\x1f".join((identifier_type, identifier_value, ordered_on.isoformat(), f"{amount:.2f}", channel or "",
                       str(occurrence)))
    return "h-" + hashlib.sha256(key.encode()).hexdigest()[:24]


def identifier_key(identifier_type: str, value: str) -> str:
    """An identifier as the warehouse matches it: no whitespace or zero-width characters; e-mails in lower case."""
    value = normalize_identifier(value)
    return value.lower() if identifier_type == "history_email" else value


# --------------------------------------------------------------------------------------------------------------------
# One row
# --------------------------------------------------------------------------------------------------------------------

_AMOUNT = Col("amount", "decimal")
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}")
_COMPACT = re.compile(r"\d{8}")


def _text(value: Any) -> str | None:
    """A cell as text (numbers of a typed file too); empty is None."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = normalize_identifier(value) if isinstance(value, str) else str(value)
    return text or None


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    text = _text(value)
    if text is None:
        raise ValueError("date: missing")
    try:
        if _ISO.fullmatch(text):
            return date.fromisoformat(text)
        if _COMPACT.fullmatch(text):
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        pass
    raise ValueError("date: expected YYYY-MM-DD or YYYYMMDD")


def _amount(value: Any) -> Decimal:
    """The contracts' decimal (scale 2, finite, in range); history also wants it given and not negative."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError("amount: missing")
    number = _to_decimal(value, _AMOUNT)
    if number < 0:
        raise ValueError("amount: negative")
    return number


def parse_row(row: dict, today: date) -> tuple[dict | None, list[str]]:
    """A row of a history file (canonical column names) as raw ``orders`` columns, or the reasons it is bad."""
    reasons: list[str] = []
    out: dict[str, Any] = {"order_id": _text(row.get("order_id"))}
    for column, _ in IDENTIFIER_COLUMNS:
        out[column] = _text(row.get(column))
    found = next(((kind, out[column]) for column, kind in IDENTIFIER_COLUMNS if out[column]), None)
    if found is None:
        reasons.append("no identifier: shop_customer_id, loyalty_member_id and email are empty")
    try:
        out["ordered_on"] = _date(row.get("date"))
        if out["ordered_on"] > today:
            reasons.append("date: in the future")
    except ValueError as e:
        reasons.append(str(e))
    try:
        out["amount"] = _amount(row.get("amount"))
    except ValueError as e:
        reasons.append(str(e))
    channel = _text(row.get("channel"))
    out["channel"] = channel.lower() if channel else None
    if out["channel"] not in (None, *CHANNELS):
        reasons.append("channel: expected online or pos")
    if reasons:
        return None, reasons
    out["identifier_type"], out["identifier_value"] = found[0], identifier_key(*found)
    return out, []


# --------------------------------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------------------------------


class FileError(Exception):
    """A file that cannot be read as a history file (its reason names no values)."""


def _header(names: list[str], path: str) -> dict[str, str]:
    """Canonical column -> the file's column name (case-insensitive); a file without date, amount or any
    identifier column is no history file."""
    by_lower = {}
    for name in names:
        by_lower.setdefault(str(name).strip().lower(), name)
    mapping = {column: by_lower[column] for column in COLUMNS if column in by_lower}
    missing = [c for c in ("date", "amount") if c not in mapping]
    if not any(c in mapping for c, _ in IDENTIFIER_COLUMNS):
        missing.append("shop_customer_id|loyalty_member_id|email")
    if missing:
        raise FileError(f"file: missing column(s) {', '.join(missing)}")
    unknown = sorted(set(by_lower) - set(COLUMNS))
    if unknown:
        log.warning("history: %s: column(s) ignored: %s", path, ", ".join(unknown))
    return mapping


def _csv_rows(item, path: str) -> Iterator[tuple[int, dict]]:
    """(line number, row) of a CSV file (UTF-8, a BOM allowed; the line where the row starts)."""
    with item.open() as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        reader = csv.reader(text)
        try:
            header = next(reader, None)
        except (UnicodeDecodeError, csv.Error) as e:
            raise FileError(f"file: not a readable CSV ({type(e).__name__})") from None
        if header is None:
            return
        mapping = _header(header, path)
        index = {column: header.index(name) for column, name in mapping.items()}
        line = reader.line_num + 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except (UnicodeDecodeError, csv.Error) as e:
                raise FileError(f"file: not a readable CSV after line {line - 1} ({type(e).__name__})") from None
            if any(cell.strip() for cell in cells):
                yield line, {column: cells[i] if i < len(cells) else None for column, i in index.items()}
            line = reader.line_num + 1


def _parquet_rows(item, path: str, batch_rows: int) -> Iterator[tuple[int, dict]]:
    """(row number, row) of a Parquet file, read in record batches."""
    with item.open() as raw:
        try:
            parquet = pq.ParquetFile(raw)
        except Exception as e:  # noqa: BLE001 - a broken file is this file's problem
            raise FileError(f"file: not a readable Parquet file ({type(e).__name__})") from None
        mapping = _header(parquet.schema_arrow.names, path)
        number = 0
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=list(mapping.values())):
            columns = {column: batch.column(name).to_pylist() for column, name in mapping.items()}
            for i in range(batch.num_rows):
                number += 1
                yield number, {column: values[i] for column, values in columns.items()}


def _files(bucket_url: str) -> list:
    """Every CSV and Parquet file below the folder, in path order."""
    items = [i for i in filesystem(bucket_url=bucket_url, file_glob="**/*") if i["relative_path"].lower().endswith(SUFFIXES)]
    return sorted(items, key=lambda i: i["relative_path"])


# --------------------------------------------------------------------------------------------------------------------
# The source
# --------------------------------------------------------------------------------------------------------------------


@dlt.source(name="history", schema_contract=SCHEMA_CONTRACT)
def history_source(
    bucket_url: str = dlt.config.value,
    future_tolerance_s: float | None = None,
    files_lag_s: float | None = None,
    batch_rows: int = BATCH_ROWS,
):
    """``bucket_url``: the folder (or bucket URL) of the history files; ``future_tolerance_s``: rows dated later
    than now plus this are quarantined (default: the contracts' default, a day); ``files_lag_s``: how far behind the
    newest file already read a late file is still picked up (default 600)."""
    now = datetime.now(timezone.utc)
    today = (now + seconds(future_tolerance_s, DEFAULT_FUTURE_TOLERANCE)).date()
    files_lag = seconds(files_lag_s, DEFAULT_FILES_LAG)

    @dlt.resource(name="orders", primary_key="history_order_id", write_disposition="merge", file_format="parquet")
    def orders() -> Iterator[Any]:
        state = dlt.current.resource_state()
        cursor = FileCursor(state.setdefault("files", {}), files_lag, now)
        if not state.get("tables_created"):  # no history yet is a history too: both tables exist from the first run
            yield ORDERS_CONTRACT.arrow_schema().empty_table()
            yield quarantine_item("orders", [])
            state["tables_created"] = True
        quarantine: list[dict] = []
        for item in _files(bucket_url):
            if not cursor.wants(item):
                continue
            path = item["relative_path"]
            rows = _csv_rows(item, path) if path.lower().endswith(".csv") else _parquet_rows(item, path, batch_rows)
            seen: dict[tuple, int] = {}  # equal rows of this file so far (for keys without an order id)
            records: list[dict] = []
            positions: list[str] = []
            try:
                for number, row in rows:
                    record, reasons = parse_row(row, today)
                    if reasons:
                        quarantine.append(quarantine_row("orders", None, f"{path}:{number}", "; ".join(reasons), now))
                        continue
                    key = (record["identifier_type"], record["identifier_value"], record["ordered_on"], record["amount"],
                           record["channel"])
                    seen[key] = seen.get(key, 0) + 1
                    record["history_order_id"] = record["order_id"] or history_order_id(*key, seen[key])
                    record["amount"] = str(record["amount"])
                    record["source_file"], record["source_line"] = path, number
                    records.append(record)
                    positions.append(f"{path}:{number}")
                    if len(records) >= batch_rows:
                        yield from _conformed(records, positions, quarantine, now)
            except FileError as e:
                quarantine.append(quarantine_row("orders", None, path, str(e), now))
            except OSError as e:
                quarantine.append(quarantine_row("orders", None, path, f"file could not be read ({type(e).__name__})", now))
            if records:
                yield from _conformed(records, positions, quarantine, now)
            if len(quarantine) >= batch_rows:
                yield quarantine_item("orders", quarantine)
                quarantine = []
            cursor.done(item)
        if quarantine:
            yield quarantine_item("orders", quarantine)
        cursor.commit()

    return orders


def _conformed(records: list[dict], positions: list[str], quarantine: list[dict], now: datetime) -> Iterator[Any]:
    """Type the parsed rows with the contract (Arrow); what still breaks it joins the quarantine."""
    batch = conform(records, ORDERS_CONTRACT, position=list(positions), now=now, future_tolerance=None)
    records.clear()
    positions.clear()
    quarantine.extend(batch.quarantine)
    batch.quarantine = []
    yield from batch_items(batch, ORDERS_CONTRACT)
