"""IoT (wearables, connected cars): newline-delimited JSON dropped in a folder, read with dlt's filesystem listing.

Drop layout (what the demo generator writes, and what ``ingestion.iot_bridge`` writes from MQTT)::

    devices/*.ndjson    registry rows: a snapshot (``registry.ndjson``) and change files (``<utc ts>-<client>.ndjson``);
                        the newest row per ``device_id`` (by ``updated_at``, compared in UTC) is the device's state
    readings/*.ndjson   readings, one JSON object per line (``<day>.ndjson`` from the generator, ``<utc ts>-...``
                        from the bridge); ``reading_id`` is the merge key, so a redelivered reading lands once

Contracts (:data:`READINGS_CONTRACT`, :data:`DEVICES_CONTRACT`, applied by ``_contracts.conform``): every row is
typed here (``value`` double, timestamps ``timestamptz`` UTC, ids and e-mails stripped of all whitespace) and yielded
as Arrow tables of ~10k rows. A line that breaks the contract (not UTF-8, not JSON, a missing field, a wrong type, a
registry row dated in the future beyond ``future_tolerance_s``) goes to ``<table>__quarantine`` with the reason and
``file:line``, never the line itself. A field the contract does not know is accepted as text and reported.
A file that cannot be read at all is quarantined by name; every other file still loads.

Opt-in only, enforced here, before anything lands. Every registry row is a consent statement (``opted_in`` as of
``updated_at``); together they are the device's consent history, kept in ``device_consents`` (device_id, opted_in,
changed_at; merge on device_id + changed_at, so a change file that later leaves the drop is not forgotten). A reading
lands only if its device's consent holds now (its newest statement is an opt-in) and the consent in force at its
``recorded_at`` (the device's newest statement not after it) was an opt-in: a reading of a device that withdrew,
sent after a withdrawal, before a (late) opt-in or before the device's first statement never lands. The registry
row of a device not opted in now is reduced to its id, type, ``opted_in = false`` and ``updated_at`` (no owner e-mail).

Withdrawal deletes, with dlt's hard-delete hint (``_deleted`` rows merged on ``reading_id``, so the rows are gone from
raw, not hidden): whenever a device's statements change (a withdrawal, a late statement dated in the past), the
readings of that device already in raw are looked up on the pipeline's destination and every one outside its consent
is deleted: all of them once the consent no longer holds now, those outside the consent periods otherwise. A device
that opts in again later starts afresh: what was deleted does not come back (the files were read already).
A reading of a device the registry does not know yet is kept (staging hides it until the device is known; a
warn-severity dbt relationships test reports it); once the device arrives, its held readings outside its consent
are hard-deleted from raw the same way.

State (dlt resource state, committed with a successful load only):

- ``devices``: per device the ``updated_at`` and a fingerprint of the row last loaded. The registry is read whole on
  every run (the readings need it for consent anyway), and a device's newest row is loaded when it differs from what
  was loaded and is not older than it: an opt-out always arrives, whatever was seen before. A future-dated row is
  quarantined and never becomes a device's newest row.
- ``readings``: a file cursor on the files' modification time (UTC) with a lag window (``files_lag_s``) and the
  fingerprints (mtime, size) of the files inside the window, so that a file renamed into place late by a concurrent
  writer is still read, and a file is read once unless it changes. Writers must put complete files in place with a
  rename (the bridge does); a file copied in with a modification time older than the lag window is not read.
- ``readings`` also keeps the ids and times of held readings per unknown device (to delete those outside its
  consent once it arrives); a device that never arrives keeps them there.
- ``readings`` also keeps per device a fingerprint of its statements last checked against raw (``consent_checked``);
  a device whose statements differ is checked (and purged) again. The fingerprint moves only with a successful load,
  so a purge whose load failed is retried.
- ``device_consents``: the (device, changed_at) statements loaded and their ``opted_in``; a statement is loaded once
  (again only if its ``opted_in`` changed).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, NamedTuple

import dlt
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from dlt.sources.filesystem import filesystem

from ._contracts import (
    BATCH_ROWS,
    DEFAULT_FUTURE_TOLERANCE,
    EPOCH,
    SCHEMA_CONTRACT,
    Col,
    Contract,
    conform,
    quarantine_item,
    quarantine_row,
    seconds,
)

log = logging.getLogger(__name__)

REGISTRY_GLOB = "devices/*.ndjson"
READINGS_GLOB = "readings/*.ndjson"
DEFAULT_FILES_LAG = timedelta(minutes=10)

# --------------------------------------------------------------------------------------------------------------------
# IoT contracts (typing, normalisation, newest-per-key and the future check are ``_contracts.conform``'s)
# --------------------------------------------------------------------------------------------------------------------

READINGS_CONTRACT = Contract(
    "readings",
    (
        Col("reading_id", "text", nullable=False, identifier=True),
        Col("device_id", "text", nullable=False, identifier=True),
        Col("metric", "text", nullable=False),
        Col("value", "double", nullable=False),
        Col("recorded_at", "timestamp", nullable=False),
    ),
    primary_key=("reading_id",),
)
DEVICES_CONTRACT = Contract(
    "devices",
    (
        Col("device_id", "text", nullable=False, identifier=True),
        Col("device_type", "text"),
        Col("owner_email", "text", identifier=True),
        Col("opted_in", "bool", nullable=False),
        Col("registered_at", "timestamp"),
        Col("updated_at", "timestamp", nullable=False),
    ),
    primary_key=("device_id",),
    cursor="updated_at",
)
# Every registry row, typed alike: the consent history (one statement per device and moment; on a tie the later file).
HISTORY_CONTRACT = Contract(
    "devices", DEVICES_CONTRACT.columns, primary_key=("device_id", "updated_at"), cursor="updated_at"
)
CONSENTS_SCHEMA = pa.schema([
    pa.field("device_id", pa.string(), nullable=False),
    pa.field("opted_in", pa.bool_(), nullable=False),
    pa.field("changed_at", pa.timestamp("us", tz="UTC"), nullable=False),
])
# What is kept of a device whose owner has not opted in: nothing about the owner (the kind of device is not personal);
# its readings are deleted from raw.
PRIVATE_COLUMNS = ("device_id", "device_type", "opted_in", "updated_at")
# Readings outside their device's consent (of a device that withdrew, or of a held device that arrives not opted in)
# are deleted with dlt's hard-delete hint.
# The hint rides on the delete rows only (a variant of the readings table itself), so that no other table of the
# resource (the quarantine) inherits the column, and the column appears only once something was deleted.
DELETED = "_deleted"
PURGE_SCHEMA = READINGS_CONTRACT.arrow_schema().append(pa.field(DELETED, pa.bool_()))
# dlt fills a delete row up to the table's columns, and the contract's columns are NOT NULL: the delete rows carry
# placeholders (they are deleted, never stored).
PURGE_FILL = {"metric": "", "value": 0.0, "recorded_at": EPOCH, DELETED: True}


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


class Line(NamedTuple):
    position: str  # "<relative path>:<line number>"
    row: Any = None  # the decoded JSON object
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
        if not raw or raw.isspace():
            continue
        try:
            row = orjson.loads(raw)  # validates UTF-8 too
        except orjson.JSONDecodeError:
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                yield Line(f"{path}:{number}", reason="not valid UTF-8")
            else:
                yield Line(f"{path}:{number}", reason="not valid JSON")
            continue
        # (conform would add "<column>: missing" for every column of a non-object: one reason is enough)
        if type(row) is dict:
            yield Line(f"{path}:{number}", row)
        else:
            yield Line(f"{path}:{number}", reason="not a JSON object")


def _files(bucket_url: str, glob: str) -> list:
    """Every file of ``glob``, in name order (generator and bridge names sort chronologically within their kind)."""
    items = list(filesystem(bucket_url=bucket_url, file_glob=glob))
    return sorted(items, key=lambda i: i["relative_path"])


def _fingerprint(row: dict) -> str:
    return hashlib.sha256(json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class Registry:
    """The device registry as of the drop: the newest valid row per device, and what broke the contract."""

    table: pa.Table  # DEVICES_CONTRACT's columns (+ new ones), one row per device
    quarantine: list[dict]
    history: pa.Table  # CONSENTS_SCHEMA: every valid statement, one per device and changed_at

    @property
    def consent(self) -> dict[str, bool]:
        """Each device's consent now (its newest statement)."""
        return dict(zip(self.table["device_id"].to_pylist(), self.table["opted_in"].to_pylist()))

    def consent_timeline(self) -> "Timeline":
        return Timeline(self.history)


class Timeline:
    """Per device its statements in time order: which consent was in force at a moment."""

    def __init__(self, history: pa.Table):
        changes: dict[str, list[tuple[datetime, bool]]] = {}
        for device_id, opted_in, at in zip(*(history[c].to_pylist() for c in ("device_id", "opted_in", "changed_at"))):
            changes.setdefault(device_id, []).append((at, opted_in))
        self.times = {d: [at for at, _ in sorted(rows)] for d, rows in changes.items()}
        self.values = {d: [ok for _, ok in sorted(rows)] for d, rows in changes.items()}

    def __contains__(self, device_id: str) -> bool:
        return device_id in self.times

    def holds_now(self, device_id: str) -> bool:
        """The device's newest statement is an opt-in."""
        return device_id in self.values and self.values[device_id][-1]

    def keeps(self, device_id: str, at: datetime) -> bool:
        """Whether a reading of ``device_id`` recorded at ``at`` may be in raw: the consent holds now and held then."""
        return self.holds_now(device_id) and self.held_at(device_id, at)

    def fingerprint(self, device_id: str) -> str:
        """A digest of the device's statements (changes when one is added or changes its mind)."""
        text = ";".join(f"{at.isoformat()}={ok}" for at, ok in zip(self.times[device_id], self.values[device_id]))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def held_at(self, device_id: str, at: datetime) -> bool:
        """The consent in force at ``at``: the newest statement not after it (none yet: no consent)."""
        index = bisect.bisect_right(self.times[device_id], at) - 1
        return index >= 0 and self.values[device_id][index]


def read_registry(bucket_url: str, now: datetime, future_tolerance: timedelta) -> Registry:
    """Every registry file, whole: rows dated beyond ``now + future_tolerance`` are quarantined and never become
    a device's newest row; of the others, the newest per device (compared in UTC; on a tie the later file) wins."""
    records, positions, quarantine = [], [], []
    for item in _files(bucket_url, REGISTRY_GLOB):
        for line in _lines(item):
            if line.reason:
                quarantine.append(quarantine_row("devices", None, line.position, line.reason, now))
            else:
                records.append(line.row)
                positions.append(line.position)
    batch = conform(records, HISTORY_CONTRACT, position=positions, now=now, future_tolerance=future_tolerance)
    history = batch.table
    # the newest statement per device is its state (and the quarantine's record key stays the device id)
    checked = conform(records, DEVICES_CONTRACT, position=positions, now=now, future_tolerance=future_tolerance)
    consents = pa.Table.from_arrays(
        [history["device_id"], history["opted_in"], history["updated_at"]], schema=CONSENTS_SCHEMA
    )
    return Registry(checked.table, quarantine + checked.quarantine, consents)


def landed_readings(device_ids: list[str]) -> list[tuple[str, str, datetime]]:
    """(reading_id, device_id, recorded_at) of the readings of ``device_ids`` already in raw, read on the destination
    of the pipeline running this source (nothing when there is none, or no readings table yet)."""
    if not device_ids:
        return []
    try:
        pipeline = dlt.current.pipeline()
    except Exception:  # noqa: BLE001 - the source iterated without a pipeline: nothing landed anywhere
        return []
    if pipeline is None or pipeline.destination is None:
        return []
    with pipeline.sql_client() as client:
        exists = client.execute_sql(
            "select count(*) from information_schema.tables where table_schema = %s and table_name = 'readings'",
            client.dataset_name,
        )[0][0]
        if not exists:
            return []
        table = client.make_qualified_table_name("readings")
        found = []
        for offset in range(0, len(device_ids), 1000):
            chunk = device_ids[offset : offset + 1000]
            marks = ", ".join(["%s"] * len(chunk))
            found += client.execute_sql(
                f"select reading_id, device_id, recorded_at from {table} where device_id in ({marks})", *chunk
            )
    return [(r, d, at if at.tzinfo else at.replace(tzinfo=timezone.utc)) for r, d, at in found]


def _private(table: pa.Table) -> pa.Table:
    """Devices not opted in keep their id, their kind, their consent and when that was said; nothing about their owner."""
    opted = table["opted_in"]
    return pa.Table.from_arrays(
        [
            col if name in PRIVATE_COLUMNS else pc.if_else(opted, col, pa.scalar(None, col.type))
            for name, col in zip(table.column_names, table.columns)
        ],
        schema=table.schema,
    )


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


@dlt.source(name="iot", schema_contract=SCHEMA_CONTRACT)
def iot_source(
    bucket_url: str = dlt.config.value,
    future_tolerance_s: float | None = None,
    files_lag_s: float | None = None,
    batch_rows: int = BATCH_ROWS,
):
    """``future_tolerance_s``: registry rows dated further ahead are quarantined (default: the contracts' default);
    ``files_lag_s``: how far behind the newest file already read a late file is still picked up (default 600)."""
    now = datetime.now(timezone.utc)
    tolerance = seconds(future_tolerance_s, DEFAULT_FUTURE_TOLERANCE)
    files_lag = seconds(files_lag_s, DEFAULT_FILES_LAG)
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
        table = _private(reg.table)
        changed = []
        for index, row in enumerate(table.to_pylist()):
            fp, at = _fingerprint(row), row["updated_at"]
            before = loaded.get(row["device_id"])
            if before and (before[1] == fp or at < datetime.fromisoformat(before[0])):
                continue  # unchanged, or older than what was loaded (a change file gone from the drop)
            changed.append(index)
            loaded[row["device_id"]] = [at.isoformat(), fp]
        table = table.take(pa.array(changed, pa.int64()))
        for offset in range(0, table.num_rows, batch_rows):
            yield table.slice(offset, batch_rows)
        known = set(reported)
        fresh = [q for q in reg.quarantine if q["quarantine_id"] not in known]
        if fresh:
            reported.extend(q["quarantine_id"] for q in fresh)
            yield quarantine_item("devices", fresh)

    @dlt.resource(
        name="device_consents", primary_key=("device_id", "changed_at"), write_disposition="merge", file_format="parquet"
    )
    def device_consents() -> Iterator[Any]:
        """The consent history: every registry statement (device_id, opted_in, changed_at), each loaded once."""
        state = dlt.current.resource_state()
        loaded: dict[str, bool] = state.setdefault("loaded", {})  # "<device_id> <changed_at iso>" -> opted_in
        history = registry().history
        fresh = []
        for index, (device_id, opted_in, at) in enumerate(
            zip(*(history[c].to_pylist() for c in ("device_id", "opted_in", "changed_at")))
        ):
            key = f"{device_id} {at.isoformat()}"
            if loaded.get(key) is not opted_in:
                fresh.append(index)
                loaded[key] = opted_in
        table = history.take(pa.array(fresh, pa.int64()))
        for offset in range(0, table.num_rows, batch_rows):
            yield table.slice(offset, batch_rows)

    @dlt.resource(name="readings", primary_key="reading_id", write_disposition="merge", file_format="parquet")
    def readings() -> Iterator[Any]:
        state = dlt.current.resource_state()
        cursor = FileCursor(state.setdefault("files", {}), files_lag, now)
        # unknown device_id -> its held readings in raw, [reading_id, recorded_at iso] (a bare id: an older state's)
        held: dict[str, list] = state.setdefault("held", {})
        timeline = registry().consent_timeline()

        # Devices whose statements changed since they were last checked (a withdrawal, a late statement): their
        # readings already in raw outside the consent leave raw (all of them once the consent no longer holds now).
        checked: dict[str, str] = state.setdefault("consent_checked", {})  # device_id -> statements' fingerprint
        changed = {d: timeline.fingerprint(d) for d in timeline.times}
        changed = {d: fp for d, fp in changed.items() if checked.get(d) != fp}
        # (only a withdrawal can put a landed reading outside the consent: devices that never withdrew are not read)
        withdrew = sorted(d for d in changed if not all(timeline.values[d]))
        purge = [
            {"reading_id": reading_id, "device_id": device_id, **PURGE_FILL}
            for reading_id, device_id, at in landed_readings(withdrew)
            if not timeline.keeps(device_id, at)
        ]
        checked.update(changed)
        # Held readings whose device is now known: those outside its consent leave raw.
        for device_id in [d for d in held if d in timeline]:
            for entry in held.pop(device_id):
                if isinstance(entry, str):  # no time kept: the device's consent now decides
                    keep = timeline.holds_now(device_id)
                    reading_id = entry
                else:
                    reading_id, at = entry
                    keep = timeline.keeps(device_id, datetime.fromisoformat(at))
                if not keep:
                    purge.append({"reading_id": reading_id, "device_id": device_id, **PURGE_FILL})
        purge = list({p["reading_id"]: p for p in purge}.values())
        if purge:
            log.info("iot: %d readings outside their device's consent are deleted from raw", len(purge))
        for offset in range(0, len(purge), batch_rows):
            yield purge_item(purge[offset : offset + batch_rows])

        holding = {d: {(e if isinstance(e, str) else tuple(e)) for e in entries} for d, entries in held.items()}
        seen: set[str] = set()
        records: list[Any] = []
        positions: list[str] = []
        quarantine: list[dict] = []

        def accepted() -> Iterator[pa.Table]:
            batch = conform(records, READINGS_CONTRACT, position=positions, now=now, future_tolerance=None)
            records.clear()
            positions.clear()
            quarantine.extend(batch.quarantine)
            table = batch.table
            ids = table["reading_id"].to_pylist()
            devices_, times = table["device_id"].to_pylist(), table["recorded_at"].to_pylist()
            keep = []
            for reading_id, device_id, at in zip(ids, devices_, times):
                if reading_id in seen:  # a redelivery already read in this run: once is enough
                    keep.append(False)
                elif device_id not in timeline:  # unknown yet: held in raw
                    holding.setdefault(device_id, set()).add((reading_id, at.isoformat()))
                    keep.append(True)
                else:  # consent withdrawn now, or not in force when it was recorded: never lands
                    keep.append(timeline.keeps(device_id, at))
                seen.add(reading_id)
            if not all(keep):
                table = table.filter(pa.array(keep, pa.bool_()))
            if table.num_rows:
                yield table

        for item in _files(bucket_url, READINGS_GLOB):
            if not cursor.wants(item):
                continue
            for line in _lines(item):
                if line.reason:
                    quarantine.append(quarantine_row("readings", None, line.position, line.reason, now))
                    continue
                records.append(line.row)
                positions.append(line.position)
                if len(records) >= batch_rows:
                    yield from accepted()
            if len(quarantine) >= batch_rows:
                yield quarantine_item("readings", quarantine)
                quarantine = []
            cursor.done(item)
        if records:
            yield from accepted()
        if quarantine:
            yield quarantine_item("readings", quarantine)
        cursor.commit()
        held.clear()
        held.update({d: sorted((e if isinstance(e, str) else list(e) for e in entries), key=str) for d, entries in holding.items()})
        if held:
            log.warning(
                "iot: %d readings of %d devices not in the registry yet are held in raw (staging hides them)",
                sum(map(len, held.values())), len(held),
            )

    return devices, device_consents, readings
