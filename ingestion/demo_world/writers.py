"""Write a demo world into the source systems it describes.

- shop, esp, social: JSON snapshots that :mod:`ingestion.demo_world.api_server` serves over HTTP;
- loyalty/POS: tables in a SQL database (a SQLite file by default, any SQLAlchemy URL such as PostgreSQL);
- IoT: newline-delimited JSON files dropped in a folder, one per day, plus the device registry;
- historical orders: a CSV (ISO dates) and a Parquet file (``YYYYMMDD`` dates) in ``history/``, bad rows included;
- the ground truth, the journeys' truth and the value process's truth (``value_truth.parquet``: every purchase,
  ``value_people.parquet``: each buyer's draws, ``value_params.json``: the true parameters) and the texts' true
  sentiment (``text_sentiment_truth.parquet``), the e-mail campaigns' holdouts and true uplift
  (``campaign_uplift_truth.parquet``): files next to (never inside) the warehouse.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Iterator

import orjson
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa

from .columnar import ColumnRows, json_text, ndjson_bytes, ndjson_line_array, write_json_array
from .generator import World, _no_gc

# How the legacy system spells its CSV header (the source matches names case-insensitively).
HISTORY_CSV_HEADER = {
    "order_id": "Order_ID", "shop_customer_id": "shop_customer_id", "loyalty_member_id": "Loyalty_Member_ID",
    "email": "EMail", "date": "Date", "amount": "Amount", "channel": "channel",
}
HISTORY_PARQUET_SCHEMA = pa.schema([
    ("order_id", pa.string()), ("shop_customer_id", pa.int64()), ("loyalty_member_id", pa.string()),
    ("email", pa.string()), ("date", pa.int64()), ("amount", pa.float64()), ("channel", pa.string()),
])

API_SYSTEMS = ("shop", "esp", "social")

# Lines a flaky device gateway really produces; the IoT source must quarantine them, not drop or crash.
BAD_READING_LINES = (
    '{"reading_id": "dev-broken-1", "device_id": "dev-00001", "metric": "steps", "val',
    '{"reading_id": "dev-broken-2", "metric": "steps", "value": 12, "recorded_at": "2026-07-03T08:00:00Z"}',
    "not json at all",
)

_metadata = sa.MetaData()
LOYALTY_TABLES = {
    "members": sa.Table(
        "members", _metadata,
        sa.Column("member_id", sa.String(16), primary_key=True),
        sa.Column("email", sa.String(255)),
        sa.Column("phone", sa.String(32)),
        sa.Column("first_name", sa.String(64)),
        sa.Column("last_name", sa.String(64)),
        sa.Column("postcode", sa.String(10)),
        sa.Column("city", sa.String(64)),
        sa.Column("birth_year", sa.Integer),
        sa.Column("marketing_opt_in", sa.Boolean, nullable=False),
        sa.Column("joined_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("deleted_at", sa.DateTime),  # soft delete (the POS also hard-deletes)
    ),
    "cards": sa.Table(
        "cards", _metadata,
        sa.Column("card_number", sa.String(19), primary_key=True),
        sa.Column("member_id", sa.String(16), sa.ForeignKey("members.member_id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("issued_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("deleted_at", sa.DateTime),  # soft delete (the POS also hard-deletes)
    ),
    "receipts": sa.Table(
        "receipts", _metadata,
        sa.Column("receipt_id", sa.String(16), primary_key=True),
        sa.Column("card_number", sa.String(19), sa.ForeignKey("cards.card_number")),
        sa.Column("store_id", sa.String(16), nullable=False),
        sa.Column("total_amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("purchased_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("deleted_at", sa.DateTime),  # soft delete (the POS also hard-deletes)
    ),
    "points": sa.Table(
        "points", _metadata,
        sa.Column("points_txn_id", sa.String(16), primary_key=True),
        sa.Column("member_id", sa.String(16), sa.ForeignKey("members.member_id"), nullable=False),
        sa.Column("receipt_id", sa.String(16), sa.ForeignKey("receipts.receipt_id")),
        sa.Column("points", sa.Integer, nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("deleted_at", sa.DateTime),  # soft delete (the POS also hard-deletes)
    ),
    # the member's consent decisions per purpose (email_marketing, profiling, ad_audiences), one row each
    "consents": sa.Table(
        "consents", _metadata,
        sa.Column("consent_id", sa.String(16), primary_key=True),
        sa.Column("member_id", sa.String(16), sa.ForeignKey("members.member_id"), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("granted", sa.Boolean, nullable=False),
        sa.Column("decided_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("deleted_at", sa.DateTime),  # soft delete (the POS also hard-deletes)
    ),
}


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def write_api_snapshots(world: World, root: Path) -> None:
    for system in API_SYSTEMS:
        folder = root / "api" / system
        folder.mkdir(parents=True, exist_ok=True)
        for table, rows in world.tables()[system].items():
            if isinstance(rows, ColumnRows):
                write_json_array(rows, folder / f"{table}.json")
            else:
                (folder / f"{table}.json").write_bytes(orjson.dumps(rows))  # UTF-8, compact


def write_loyalty_db(world: World, url: str, schema: str | None = None) -> None:
    """(Re)create the loyalty/POS tables at ``url`` (optionally in ``schema``) and fill them."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            if schema:
                conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            conn = conn.execution_options(schema_translate_map={None: schema}) if schema else conn
            _metadata.drop_all(conn)
            _metadata.create_all(conn)
            for name in ("members", "cards", "receipts", "points", "consents"):  # parents before children
                rows = world.loyalty.get(name)
                if rows:
                    conn.execute(LOYALTY_TABLES[name].insert(), rows)
    finally:
        engine.dispose()


def sync_late_tills(world: World, url: str, schema: str | None = None) -> dict[str, int]:
    """The late tills come online: insert ``world.loyalty_late`` into the POS database written before."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn = conn.execution_options(schema_translate_map={None: schema}) if schema else conn
            for name in ("receipts", "points"):
                if world.loyalty_late.get(name):
                    conn.execute(LOYALTY_TABLES[name].insert(), world.loyalty_late[name])
    finally:
        engine.dispose()
    return {name: len(rows) for name, rows in world.loyalty_late.items()}


def _sync_folder(folder: Path, files: dict[str, bytes]) -> None:
    """Make ``folder`` hold exactly ``files`` (relative path -> content). A file whose content is already there is
    left untouched (its modification time too), as in a real drop folder: written over the world of an earlier day
    (demo_world.cut), the file sources find only the new and changed files."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else ():
        if path.relative_to(folder).as_posix() not in files:
            path.unlink()
    for name, content in files.items():
        path = folder / name
        if path.is_file() and path.stat().st_size == len(content) and path.read_bytes() == content:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def _ndjson(rows) -> bytes:
    """Rows as newline-delimited JSON (UTF-8, one object a line, a newline after the last)."""
    return b"".join(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE) for row in rows)


def write_iot_drop(world: World, folder: Path) -> None:
    files = {"devices/registry.ndjson": _ndjson(world.iot["devices"])}
    # consent changes: one registry change file per day, named like the bridge's (<utc ts>-<client>.ndjson)
    changes_by_day: dict[str, list[dict]] = defaultdict(list)
    for change in world.iot.get("device_changes", []):
        changes_by_day[change["updated_at"][:10]].append(change)
    for day, changes in sorted(changes_by_day.items()):
        stamp = changes[0]["updated_at"].replace("-", "").replace(":", "")
        files[f"devices/{stamp}-registry.ndjson"] = _ndjson(changes)
    for n, (day, lines) in enumerate(_readings_by_day(world.iot["readings"])):
        files[f"readings/{day}.ndjson"] = lines + (("\n".join(BAD_READING_LINES) + "\n").encode() if n == 1 else b"")
    (folder / "devices").mkdir(parents=True, exist_ok=True)
    (folder / "readings").mkdir(parents=True, exist_ok=True)
    _sync_folder(folder, files)


def _readings_by_day(readings) -> Iterator[tuple[str, bytes]]:
    """Per UTC day (in order) the NDJSON of the readings recorded on it, in the readings' order."""
    if not isinstance(readings, ColumnRows):
        by_day: dict[str, list[dict]] = defaultdict(list)
        for reading in readings:
            by_day[reading["recorded_at"][:10]].append(reading)
        for day in sorted(by_day):
            yield day, _ndjson(by_day[day])
        return
    table = readings.table
    days = pc.utf8_slice_codeunits(table["recorded_at"], 0, 10).combine_chunks()
    encoded = days.dictionary_encode()
    day_names = encoded.dictionary.to_numpy(zero_copy_only=False)
    rank = np.argsort(np.argsort(day_names))  # code -> the day's place
    codes = encoded.indices.to_numpy()
    order = np.argsort(rank[codes], kind="stable")  # rows by day, each day's in the readings' order
    counts = np.bincount(rank[codes], minlength=len(day_names))
    in_order = np.sort(day_names)
    for place, (lo, hi) in enumerate(zip(np.cumsum(counts) - counts, np.cumsum(counts))):
        if hi == lo:
            continue
        part = table.take(pa.array(order[lo:hi]))  # one day at a time: never a second copy of all readings
        values = pc.cast(part["value"], pa.string())
        # km driven in tenths: "<km>.<tenth>" (one decimal, as Python writes the float)
        tenths = pc.binary_join_element_wise(
            pc.cast(pc.divide(part["value"], 10), pa.string()), pc.cast(pc.remainder(part["value"], 10), pa.string()), "."
        )
        values = pc.if_else(part["tenths"], tenths, values)
        yield str(in_order[place]), ndjson_bytes(_line_array(part, values))


def _line_array(table: pa.Table, values: pa.Array) -> pa.Array:
    return ndjson_line_array([
        ("reading_id", json_text(table["reading_id"])), ("device_id", json_text(table["device_id"])),
        ("metric", json_text(table["metric"])), ("value", values), ("recorded_at", json_text(table["recorded_at"])),
    ])


def write_ground_truth(world: World, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(world.ground_truth), path)


def write_journeys_truth(world: World, path: Path) -> None:
    """The storefront's journeys as they happened (one row per event id), next to the ground truth."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(world.journeys, ColumnRows):
        pq.write_table(world.journeys.table, path)
    else:
        pq.write_table(pa.Table.from_pylist(world.journeys), path)


def write_history(world: World, folder: Path) -> None:
    """The history export: each file of ``world.history`` below ``folder`` (CSV as text, Parquet typed); files that
    are there already with the same content are left untouched."""
    files = {}
    for name, rows in world.history.items():
        if name.endswith(".csv"):
            text = io.StringIO(newline="")
            writer = csv.writer(text)
            writer.writerow(HISTORY_CSV_HEADER.values())
            writer.writerows([row[k] for k in HISTORY_CSV_HEADER] for row in rows)
            files[name] = text.getvalue().encode("utf-8")
        else:
            out = pa.BufferOutputStream()
            pq.write_table(pa.Table.from_pylist(rows, schema=HISTORY_PARQUET_SCHEMA), out)
            files[name] = out.getvalue().to_pybytes()
    folder.mkdir(parents=True, exist_ok=True)
    _sync_folder(folder, files)


VALUE_TRUTH_SCHEMA = pa.schema([
    ("person_id", pa.string()), ("transaction_id", pa.string()), ("source", pa.string()), ("channel", pa.string()),
    ("purchased_at", pa.timestamp("us", tz="UTC")), ("amount", pa.float64()), ("in_process", pa.bool_()),
])
VALUE_PEOPLE_SCHEMA = pa.schema([
    ("person_id", pa.string()), ("acquired_at", pa.timestamp("us", tz="UTC")), ("lam", pa.float64()),
    ("dropout_p", pa.float64()), ("nu", pa.float64()), ("dropped_at", pa.timestamp("us", tz="UTC")),
    ("online_share", pa.float64()),
])


def write_value_truth(world: World, root: Path) -> None:
    """The value process's truth next to the ground truth: purchases, buyers' draws, true parameters."""
    root.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(world.value_transactions, schema=VALUE_TRUTH_SCHEMA), root / "value_truth.parquet")
    pq.write_table(pa.Table.from_pylist(world.value_people, schema=VALUE_PEOPLE_SCHEMA), root / "value_people.parquet")
    (root / "value_params.json").write_text(json.dumps(world.value_params, indent=2))


DEVICE_DAILY_TRUTH_SCHEMA = pa.schema([
    ("device_id", pa.string()), ("day", pa.date32()), ("person_id", pa.string()), ("steps", pa.int64()),
    ("active_minutes", pa.int64()), ("km_driven", pa.float64()), ("trips", pa.int64()), ("readings", pa.int64()),
])
DEVICE_METRICS = {"steps": int, "active_minutes": int, "km_driven": float, "trips": int}


def device_daily_truth(world: World) -> list[dict]:
    """Per device whose consent holds now and UTC day with a reading recorded while its consent held: the sums of
    each metric (null where the device does not measure it), the reading events (one per device and moment), and
    the device's person. A device that withdrew has no days at all (its readings are deleted from raw)."""
    person = {t["identifier_value"]: t["person_id"] for t in world.ground_truth if t["identifier_type"] == "iot_device"}
    if isinstance(world.iot.get("readings"), ColumnRows):
        return _device_daily_truth_columns(world, person).to_pylist()
    days: dict[tuple[str, str], dict] = {}
    moments: dict[tuple[str, str], set] = defaultdict(set)
    for reading in world.iot_consented_readings():
        key = (reading["device_id"], reading["recorded_at"][:10])
        row = days.setdefault(key, {"device_id": key[0], "day": date.fromisoformat(key[1]),
                                    "person_id": person.get(key[0]), **{m: None for m in DEVICE_METRICS}})
        kind = DEVICE_METRICS[reading["metric"]]
        row[reading["metric"]] = (row[reading["metric"]] or kind(0)) + kind(reading["value"])
        moments[key].add(reading["recorded_at"])
    rows = [dict(row, readings=len(moments[key])) for key, row in sorted(days.items())]
    for row in rows:
        if row["km_driven"] is not None:
            row["km_driven"] = round(row["km_driven"], 6)
    return rows


def _device_daily_truth_columns(world: World, person: dict[str, str]) -> pa.Table:
    """``device_daily_truth`` of readings held as columns, as a table (grouped by pyarrow)."""
    readings = world.iot_consented_table()
    day = pc.utf8_slice_codeunits(readings["recorded_at"], 0, 10)
    columns = {"device_id": readings["device_id"], "day": day, "moment": readings["recorded_at"]}
    for metric, kind in DEVICE_METRICS.items():
        value = readings["value"] if kind is int else pc.divide(pc.cast(readings["value"], pa.float64()), 10.0)
        columns[metric] = pc.if_else(pc.equal(readings["metric"], metric), value, pa.scalar(None, value.type))
    grouped = pa.table(columns).group_by(["device_id", "day"], use_threads=False).aggregate(
        [(m, "sum") for m in DEVICE_METRICS] + [("moment", "count_distinct")]
    )
    grouped = grouped.sort_by([("device_id", "ascending"), ("day", "ascending")])
    device_ids = grouped["device_id"].to_pylist()
    return pa.table({
        "device_id": grouped["device_id"],
        "day": pc.cast(pc.strptime(grouped["day"], format="%Y-%m-%d", unit="s"), pa.date32()),
        "person_id": pa.array([person.get(d) for d in device_ids], pa.string()),
        "steps": grouped["steps_sum"],
        "active_minutes": grouped["active_minutes_sum"],
        "km_driven": pc.round(grouped["km_driven_sum"], 6),
        "trips": grouped["trips_sum"],
        "readings": grouped["moment_count_distinct"],
    }).cast(DEVICE_DAILY_TRUTH_SCHEMA)


def write_device_daily_truth(world: World, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(world.iot.get("readings"), ColumnRows):
        person = {t["identifier_value"]: t["person_id"] for t in world.ground_truth if t["identifier_type"] == "iot_device"}
        pq.write_table(_device_daily_truth_columns(world, person), path)
        return
    pq.write_table(pa.Table.from_pylist(device_daily_truth(world), schema=DEVICE_DAILY_TRUTH_SCHEMA), path)
TEXT_TRUTH_SCHEMA = pa.schema([
    ("text_id", pa.string()), ("source", pa.string()), ("kind", pa.string()), ("person_id", pa.string()),
    ("language", pa.string()), ("label", pa.string()), ("occurred_at", pa.timestamp("us", tz="UTC")),
])


def write_text_truth(world: World, path: Path) -> None:
    """Every text a person wrote and its true sentiment (one row per text), next to the ground truth.

    ``text_id`` is ``social:<interaction id>`` or ``review:<review id>``, as the warehouse's ids read; ``source``
    is ``social`` or ``shop_review``; ``kind`` comment | mention | share | review; ``label`` negative | neutral |
    positive (what a human reads in it); ``occurred_at`` when it was written (UTC)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(world.text_truth, schema=TEXT_TRUTH_SCHEMA), path)


CONSENT_TRUTH_SCHEMA = pa.schema([
    ("person_id", pa.string()), ("purpose", pa.string()), ("granted", pa.bool_()),
    ("decided_at", pa.timestamp("us", tz="UTC")), ("source_system", pa.string()),
])


def write_consent_truth(world: World, path: Path) -> None:
    """Per person and purpose, the latest consent decision any system recorded (``World.consent_truth``): what the
    warehouse's marts.consent_current must hold. No row = no decision = no consent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(world.consent_truth, schema=CONSENT_TRUTH_SCHEMA), path)


CAMPAIGN_TRUTH_SCHEMA = pa.schema([
    ("campaign_id", pa.string()), ("sent_at", pa.timestamp("us", tz="UTC")), ("treated_people", pa.int64()),
    ("holdout_people", pa.int64()), ("effect_probability", pa.float64()), ("conversion_window_days", pa.int64()),
    ("true_uplift", pa.float64()), ("true_revenue_uplift", pa.float64()), ("extra_orders", pa.int64()),
    ("extra_revenue", pa.float64()), ("realized_uplift", pa.float64()),
])


def write_campaign_truth(world: World, path: Path) -> None:
    """Per e-mail campaign (``World.campaign_truth``): people treated (sent) and held out (a control event), the
    true effect probability, the conversion window, the uplift in conversion rate and in revenue per person the
    effect causes in expectation over the audience, the extra orders placed and their revenue, and the uplift
    realised among the treated (extra orders by people who would not have bought in the window anyway)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(world.campaign_truth, schema=CAMPAIGN_TRUTH_SCHEMA), path)


def write_world(world: World, root: Path) -> dict[str, str]:
    """Write every source system of ``world`` below ``root``; returns where each one went."""
    with _no_gc():
        return _write_world(world, root)


def _write_world(world: World, root: Path) -> dict[str, str]:
    root.mkdir(parents=True, exist_ok=True)
    write_api_snapshots(world, root)
    loyalty_db = root / "loyalty.sqlite"
    loyalty_db.unlink(missing_ok=True)
    write_loyalty_db(world, sqlite_url(loyalty_db))
    write_iot_drop(world, root / "iot_drop")
    write_ground_truth(world, root / "ground_truth.parquet")
    write_journeys_truth(world, root / "journeys_truth.parquet")
    write_history(world, root / "history")
    write_value_truth(world, root)
    write_device_daily_truth(world, root / "device_daily_truth.parquet")
    write_text_truth(world, root / "text_sentiment_truth.parquet")
    write_consent_truth(world, root / "consent_truth.parquet")
    write_campaign_truth(world, root / "campaign_uplift_truth.parquet")
    (root / "world.json").write_text(
        json.dumps({"seed": world.seed, "people": world.people, "days": world.days, "fingerprint": world.fingerprint()})
    )
    return {
        "api": str(root / "api"),
        "loyalty": sqlite_url(loyalty_db),
        "iot": str(root / "iot_drop"),
        "ground_truth": str(root / "ground_truth.parquet"),
        "journeys_truth": str(root / "journeys_truth.parquet"),
        "history": str(root / "history"),
        "value_truth": str(root / "value_truth.parquet"),
        "device_daily_truth": str(root / "device_daily_truth.parquet"),
        "text_sentiment_truth": str(root / "text_sentiment_truth.parquet"),
        "consent_truth": str(root / "consent_truth.parquet"),
        "campaign_uplift_truth": str(root / "campaign_uplift_truth.parquet"),
    }
