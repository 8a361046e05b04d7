"""IoT (wearables, connected cars): newline-delimited JSON dropped in a folder, read with dlt's filesystem listing.

Drop layout (what the demo generator writes, and what ``ingestion.iot_bridge`` writes from MQTT)::

    devices/*.ndjson    registry rows: a snapshot (``registry.ndjson``) and change files (``<utc ts>-<client>.ndjson``);
                        the newest row per ``device_id`` (by ``updated_at``, compared in UTC) is the device's state
    readings/*.ndjson   readings, one JSON object per line (``<day>.ndjson`` from the generator, ``<utc ts>-...``
                        from the bridge); ``reading_id`` is the merge key, so a redelivered reading lands once

Contracts (:data:`READINGS_CONTRACT`, :data:`DEVICES_CONTRACT`): every row is typed here (``value`` double,
timestamps ``timestamptz`` UTC, ids stripped of all whitespace) and yielded as Arrow tables of ~10k rows. A line that
breaks the contract (not UTF-8, not JSON, a missing field, a wrong type, a registry row dated in the future beyond
``future_tolerance_s``) goes to ``<table>__quarantine`` with the reason and ``file:line``, never the line itself.
A file that cannot be read at all is quarantined by name; every other file still loads.

Opt-in only, enforced here, before anything lands: readings of a device the registry knows as not opted in are never
loaded, and the registry row of such a device is reduced to its id, ``opted_in = false`` and ``updated_at`` (no
owner e-mail). A reading of a device the registry does not know yet is kept (staging hides it until the device is
known and opted in; a warn-severity dbt relationships test reports it); should the device then arrive as not opted
in, its held readings are hard-deleted from raw.

State (dlt resource state, committed with a successful load only):

- ``devices``: per device the ``updated_at`` and a fingerprint of the row last loaded. The registry is read whole on
  every run (the readings need it for consent anyway), and a device's newest row is loaded when it differs from what
  was loaded and is not older than it: an opt-out always arrives, whatever was seen before. A future-dated row is
  quarantined and never becomes a device's newest row.
- ``readings``: a file cursor on the files' modification time (UTC) with a lag window (``files_lag_s``) and the
  fingerprints (mtime, size) of the files inside the window, so that a file renamed into place late by a concurrent
  writer is still read, and a file is read once unless it changes.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator

import dlt
import pyarrow as pa
from dlt.sources.filesystem import filesystem

REGISTRY_GLOB = "devices/*.ndjson"
READINGS_GLOB = "readings/*.ndjson"
BATCH_ROWS = 10_000
TS = pa.timestamp("us", tz="UTC")

# --------------------------------------------------------------------------------------------------------------------
# Contract helpers. Shaped like ``ingestion/sources/_contracts.py`` (Col / Contract / quarantine rows) so that the
# swap to the shared module is local to this block.
# --------------------------------------------------------------------------------------------------------------------

_WHITESPACE = re.compile(r"[\s\u200b\u200c\u200d\u2060\ufeff]+")


def normalize_identifier(value: str) -> str:
    """NFKC, then every whitespace character (zero-width ones included) removed."""
    return _WHITESPACE.sub("", unicodedata.normalize("NFKC", value))


def normalize_text(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip()


class ContractError(ValueError):
    """A field that breaks the contract; the message names the column and the expected type, never the value."""


def _identifier(v: Any) -> str:
    if isinstance(v, bool) or not isinstance(v, (str, int)):
        raise ContractError("expected text")
    out = normalize_identifier(str(v))
    if not out:
        raise ContractError("expected text")
    return out


def _text(v: Any) -> str:
    if not isinstance(v, str):
        raise ContractError("expected text")
    return normalize_text(v)


def _double(v: Any) -> float:
    if isinstance(v, bool):
        raise ContractError("expected double")
    if isinstance(v, (int, float)):
        out = float(v)
    elif isinstance(v, str):
        try:
            out = float(v.strip())
        except ValueError:
            raise ContractError("expected double") from None
    else:
        raise ContractError("expected double")
    if not math.isfinite(out):
        raise ContractError("expected a finite double")
    return out


def _boolean(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ContractError("expected boolean")
    return v


def parse_utc(v: Any) -> datetime:
    """ISO-8601 text to an aware UTC datetime; a timestamp without an offset is taken as UTC."""
    if not isinstance(v, str):
        raise ContractError("expected ISO-8601 timestamp")
    try:
        ts = datetime.fromisoformat(v.strip())
    except ValueError:
        raise ContractError("expected ISO-8601 timestamp") from None
    return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)


@dataclass(frozen=True)
class Col:
    name: str
    arrow_type: pa.DataType
    parse: Callable[[Any], Any]
    required: bool = True  # a row without it breaks the contract
    key: bool = False  # primary key: non-nullable in the Arrow schema


@dataclass(frozen=True)
class Contract:
    table: str
    columns: tuple[Col, ...]

    @property
    def key(self) -> str:
        return next(c.name for c in self.columns if c.key)

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.arrow_type, nullable=not c.key) for c in self.columns])

    def conform(self, row: Any) -> tuple[dict | None, str | None]:
        """One decoded JSON value -> (typed row, None) or (None, reason)."""
        if not isinstance(row, dict):
            return None, "not a JSON object"
        missing = [c.name for c in self.columns if c.required and row.get(c.name) is None]
        if missing:
            return None, f"missing {', '.join(missing)}"
        out, bad = {}, []
        for c in self.columns:
            v = row.get(c.name)
            if v is None:
                out[c.name] = None
                continue
            try:
                out[c.name] = c.parse(v)
            except ContractError as e:
                bad.append(f"{c.name}: {e}")
        if bad:
            return None, "; ".join(bad)
        return out, None

    def to_arrow(self, rows: list[dict]) -> pa.Table:
        return pa.table({c.name: pa.array([r.get(c.name) for r in rows], c.arrow_type) for c in self.columns},
                        schema=self.schema)


QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("quarantine_id", pa.string(), nullable=False),
        pa.field("table_name", pa.string()),
        pa.field("record_key", pa.string()),
        pa.field("source_position", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("quarantined_at", TS),
    ]
)


def quarantine_row(table: str, record_key: str | None, position: str, reason: str) -> dict:
    """A quarantine row; its id is stable (table, record key or else position, reason): re-quarantining adds nothing."""
    ident = f"{table}\x1f{record_key if record_key is not None else position}\x1f{reason}"
    return {
        "quarantine_id": hashlib.sha256(ident.encode()).hexdigest()[:32],
        "table_name": table,
        "record_key": record_key,
        "source_position": position,
        "reason": reason,
        "quarantined_at": datetime.now(timezone.utc),
    }


def quarantine_item(table: str, rows: list[dict]):
    """Arrow table of quarantine rows, routed to ``<table>__quarantine`` (merge on ``quarantine_id``)."""
    return dlt.mark.with_hints(
        pa.Table.from_pylist(rows, schema=QUARANTINE_SCHEMA),
        dlt.mark.make_hints(
            table_name=f"{table}__quarantine", primary_key="quarantine_id", write_disposition="merge"
        ),
        create_table_variant=True,
    )


# --------------------------------------------------------------------------------------------------------------------
# IoT contracts
# --------------------------------------------------------------------------------------------------------------------

READINGS_CONTRACT = Contract(
    "readings",
    (
        Col("reading_id", pa.string(), _identifier, key=True),
        Col("device_id", pa.string(), _identifier),
        Col("metric", pa.string(), _text),
        Col("value", pa.float64(), _double),
        Col("recorded_at", TS, parse_utc),
    ),
)
DEVICES_CONTRACT = Contract(
    "devices",
    (
        Col("device_id", pa.string(), _identifier, key=True),
        Col("device_type", pa.string(), _text, required=False),
        Col("owner_email", pa.string(), _text, required=False),
        Col("opted_in", pa.bool_(), _boolean),
        Col("registered_at", TS, parse_utc, required=False),
        Col("updated_at", TS, parse_utc),
    ),
)
READINGS_SCHEMA = READINGS_CONTRACT.schema
# Readings of a held (unknown) device that turns out not to be opted in are deleted with dlt's hard-delete hint.
# The hint rides on the delete rows only (a variant of the readings table itself), so that no other table of the
# resource (the quarantine) inherits the column, and the column appears only once something was deleted.
DELETED = "_deleted"
PURGE_SCHEMA = pa.schema(
    [pa.field("reading_id", pa.string(), nullable=False), pa.field("device_id", pa.string()), pa.field(DELETED, pa.bool_())]
)


def purge_item(rows: list[dict]):
    return dlt.mark.with_hints(
        pa.Table.from_pylist(rows, schema=PURGE_SCHEMA),
        dlt.mark.make_hints(
            table_name="readings",
            primary_key="reading_id",
            write_disposition="merge",
            columns={DELETED: {"data_type": "bool", "hard_delete": True}},
        ),
        create_table_variant=True,
    )


# --------------------------------------------------------------------------------------------------------------------
# Reading the drop
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    position: str  # "<relative path>:<line number>"
    row: Any = None  # the decoded JSON value
    reason: str | None = None  # why it could not be decoded


def _lines(item) -> Iterator[Line]:
    """Decoded lines of one file. Undecodable lines (or an unreadable file) come back with a reason, never the text."""
    path = item["relative_path"]
    try:
        data = item.read_bytes()
    except Exception as e:  # noqa: BLE001 - any read failure is this file's problem, not the source's
        yield Line(path, reason=f"file could not be read ({type(e).__name__})")
        return
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        position = f"{path}:{number}"
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            yield Line(position, reason="not valid UTF-8")
            continue
        try:
            yield Line(position, row=json.loads(text))
        except ValueError:
            yield Line(position, reason="not valid JSON")


def _files(bucket_url: str, glob: str) -> list:
    """Every file of ``glob``, in name order (generator and bridge names sort chronologically within their kind)."""
    items = list(filesystem(bucket_url=bucket_url, file_glob=glob))
    return sorted(items, key=lambda i: i["relative_path"])


def _key_of(row: Any, column: str) -> str | None:
    if isinstance(row, dict) and isinstance(row.get(column), (str, int)) and not isinstance(row.get(column), bool):
        return normalize_identifier(str(row[column])) or None
    return None


def _fingerprint(row: dict) -> str:
    return hashlib.sha256(json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class Registry:
    """The device registry as of the drop: the newest valid row per device, plus what broke the contract."""

    newest: dict[str, dict]
    quarantine: list[dict]

    @property
    def consent(self) -> dict[str, bool]:
        return {d: row["opted_in"] for d, row in self.newest.items()}


def read_registry(bucket_url: str, now: datetime, future_tolerance: timedelta) -> Registry:
    newest: dict[str, dict] = {}
    quarantine: list[dict] = []
    horizon = now + future_tolerance
    for item in _files(bucket_url, REGISTRY_GLOB):
        for line in _lines(item):
            key = _key_of(line.row, "device_id")
            if line.reason:
                quarantine.append(quarantine_row("devices", key, line.position, line.reason))
                continue
            row, reason = DEVICES_CONTRACT.conform(line.row)
            if row is None:
                quarantine.append(quarantine_row("devices", key, line.position, reason))
            elif row["updated_at"] > horizon:
                reason = f"updated_at: more than {int(future_tolerance.total_seconds())} s in the future"
                quarantine.append(quarantine_row("devices", key, line.position, reason))
            elif row["device_id"] not in newest or row["updated_at"] >= newest[row["device_id"]]["updated_at"]:
                newest[row["device_id"]] = row  # a tie goes to the later file / line
    return Registry(newest, quarantine)


def _private(row: dict) -> dict:
    """A device not opted in: its id, its consent and when that was said; nothing about its owner."""
    if row["opted_in"]:
        return row
    return {"device_id": row["device_id"], "opted_in": False, "updated_at": row["updated_at"]}


class FileCursor:
    """Files by modification time (UTC) with a lag window; files inside the window are remembered by fingerprint."""

    def __init__(self, state: dict, lag: timedelta, now: datetime):
        self.state = state
        self.lag = lag
        self.now = now
        cursor = state.get("cursor")
        self.cursor = datetime.fromisoformat(cursor) if cursor else None
        self.seen: dict[str, list] = dict(state.get("seen", {}))

    def wants(self, item) -> bool:
        mtime = item["modification_date"].astimezone(timezone.utc)
        if self.cursor is not None and mtime < self.cursor - self.lag:
            return False
        return self.seen.get(item["relative_path"]) != [mtime.isoformat(), item["size_in_bytes"]]

    def done(self, item) -> None:
        mtime = item["modification_date"].astimezone(timezone.utc)
        self.seen[item["relative_path"]] = [mtime.isoformat(), item["size_in_bytes"]]
        # a file stamped in the future (clock skew) is read, but never moves the cursor past now
        stamp = min(mtime, self.now)
        if self.cursor is None or stamp > self.cursor:
            self.cursor = stamp

    def commit(self) -> None:
        if self.cursor is None:
            return
        floor = self.cursor - self.lag
        self.state["cursor"] = self.cursor.isoformat()
        self.state["seen"] = {p: fp for p, fp in self.seen.items() if datetime.fromisoformat(fp[0]) >= floor}


# --------------------------------------------------------------------------------------------------------------------
# The source
# --------------------------------------------------------------------------------------------------------------------


@dlt.source(name="iot")
def iot_source(
    bucket_url: str = dlt.config.value,
    future_tolerance_s: int = 3600,
    files_lag_s: int = 600,
    batch_rows: int = BATCH_ROWS,
):
    now = datetime.now(timezone.utc)
    tolerance = timedelta(seconds=future_tolerance_s)
    registry_cache: list[Registry] = []

    def registry() -> Registry:
        if not registry_cache:
            registry_cache.append(read_registry(bucket_url, now, tolerance))
        return registry_cache[0]

    @dlt.resource(name="devices", primary_key="device_id", write_disposition="merge", file_format="parquet")
    def devices() -> Iterator[Any]:
        state = dlt.current.resource_state()
        loaded: dict[str, list] = state.setdefault("loaded", {})  # device_id -> [updated_at iso, fingerprint]
        reported: list[str] = state.setdefault("quarantined", [])
        reg = registry()
        rows = []
        for device_id, row in reg.newest.items():
            row = _private(row)
            fp, at = _fingerprint(row), row["updated_at"]
            before = loaded.get(device_id)
            if before and (before[1] == fp or at < datetime.fromisoformat(before[0])):
                continue
            rows.append(row)
            loaded[device_id] = [at.isoformat(), fp]
        for start in range(0, len(rows), batch_rows):
            yield DEVICES_CONTRACT.to_arrow(rows[start : start + batch_rows])
        known = set(reported)
        fresh = [q for q in reg.quarantine if q["quarantine_id"] not in known]
        if fresh:
            reported.extend(q["quarantine_id"] for q in fresh)
            yield quarantine_item("devices", fresh)

    @dlt.resource(
        name="readings",
        primary_key="reading_id",
        write_disposition="merge",
        file_format="parquet",
    )
    def readings() -> Iterator[Any]:
        state = dlt.current.resource_state()
        cursor = FileCursor(state.setdefault("files", {}), timedelta(seconds=files_lag_s), now)
        held: dict[str, list[str]] = state.setdefault("held", {})  # unknown device_id -> reading_ids in raw
        consent = registry().consent

        # Held readings whose device is now known: opted in -> staging shows them; not opted in -> out of raw.
        purge = []
        for device_id in [d for d in held if d in consent]:
            ids = held.pop(device_id)
            if not consent[device_id]:
                purge.extend({"reading_id": r, "device_id": device_id, DELETED: True} for r in ids)
        for start in range(0, len(purge), batch_rows):
            yield purge_item(purge[start : start + batch_rows])

        batch: list[dict] = []
        quarantine: list[dict] = []
        seen: set[str] = set()
        for item in _files(bucket_url, READINGS_GLOB):
            if not cursor.wants(item):
                continue
            for line in _lines(item):
                if line.reason:
                    quarantine.append(quarantine_row("readings", _key_of(line.row, "reading_id"), line.position, line.reason))
                    continue
                row, reason = READINGS_CONTRACT.conform(line.row)
                if row is None:
                    quarantine.append(quarantine_row("readings", _key_of(line.row, "reading_id"), line.position, reason))
                    continue
                opted_in = consent.get(row["device_id"])
                if opted_in is False or row["reading_id"] in seen:
                    continue  # never lands / a redelivery already in this run
                if opted_in is None:
                    ids = held.setdefault(row["device_id"], [])
                    if row["reading_id"] not in ids:
                        ids.append(row["reading_id"])
                seen.add(row["reading_id"])
                batch.append(row)
                if len(batch) >= batch_rows:
                    yield pa.Table.from_pylist(batch, schema=READINGS_SCHEMA)
                    batch = []
            if len(quarantine) >= batch_rows:
                yield quarantine_item("readings", quarantine)
                quarantine = []
            cursor.done(item)
        if batch:
            yield pa.Table.from_pylist(batch, schema=READINGS_SCHEMA)
        if quarantine:
            yield quarantine_item("readings", quarantine)
        cursor.commit()

    return devices, readings
