"""The loyalty/POS source (SQLite here; PostgreSQL in test_loyalty_postgres.py): deletes, late tills, ties at the
cursor, future-dated rows, the contract. Every check compares raw row for row with the source database."""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import duckdb
import pytest
import sqlalchemy as sa

from ingestion import pipelines
from ingestion.demo_world.writers import sync_late_tills
from .conftest import count, loaded_rows

DEFAULT_LAG_SECONDS = 6 * 3600  # the source's documented default window


@dataclass(frozen=True)
class C:
    name: str
    type: str = "text"
    identifier: bool = False  # e-mail, phone: NFKC, every whitespace and zero-width character removed
    normalize: bool = False  # names: NFKC, trimmed


@dataclass(frozen=True)
class T:
    key: str
    columns: tuple[C, ...]


# The raw tables as the POS schema declares them (the contract), independent of the source's own declaration.
TABLES = {
    "members": T("member_id", (C("member_id"), C("email", identifier=True), C("phone", identifier=True),
                               C("first_name", normalize=True), C("last_name", normalize=True),
                               C("postcode", normalize=True), C("city", normalize=True), C("birth_year", "bigint"),
                               C("marketing_opt_in", "bool"), C("joined_at", "timestamp"), C("updated_at", "timestamp"))),
    "cards": T("card_number", (C("card_number"), C("member_id"), C("status"), C("issued_at", "timestamp"),
                               C("updated_at", "timestamp"))),
    "receipts": T("receipt_id", (C("receipt_id"), C("card_number"), C("store_id"), C("total_amount", "decimal"),
                                 C("purchased_at", "timestamp"), C("updated_at", "timestamp"))),
    "points": T("points_txn_id", (C("points_txn_id"), C("member_id"), C("receipt_id"), C("points", "bigint"),
                                  C("reason"), C("created_at", "timestamp"), C("updated_at", "timestamp"))),
    "consents": T("consent_id", (C("consent_id"), C("member_id"), C("purpose"), C("granted", "bool"),
                                 C("decided_at", "timestamp"), C("updated_at", "timestamp"))),
}


def normalize_identifier(value: str) -> str:
    return re.sub(r"[\s\u200b\u200c\u200d\u2060\ufeff\u00ad]+", "", unicodedata.normalize("NFKC", value))


def normalize_text(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip().strip("\u200b\u200c\u200d\u2060\ufeff\u00ad").strip()


def rows_in_lag_window(loyalty: dict[str, list[dict]], lag_seconds: float = DEFAULT_LAG_SECONDS) -> dict[str, int]:
    """Rows a run after the first reads again: those within the lag window before each table's newest row."""
    window = {}
    for table, rows in loyalty.items():
        if rows:
            newest = max(r["updated_at"] for r in rows)
            window[table] = sum(r["updated_at"] >= newest - timedelta(seconds=lag_seconds) for r in rows)
    return window


def _utc(value):
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def expected_row(table: str, row: dict) -> tuple:
    """A source row as raw must hold it: UTC timestamps, decimals, normalised identifiers and names."""
    out = []
    for col in TABLES[table].columns:
        value = row.get(col.name)
        if value is None:
            out.append(None)
        elif col.type == "timestamp":
            out.append(_utc(value))
        elif col.type == "decimal":
            out.append(Decimal(str(value)).quantize(Decimal("0.01")))
        elif col.type == "bool":
            out.append(bool(value))
        elif col.identifier:
            out.append(normalize_identifier(value) or None)
        elif col.normalize:
            out.append(normalize_text(value) or None)
        else:
            out.append(value)
    return tuple(out)


def source_rows(url: str, table: str, schema: str | None = None) -> set[tuple]:
    """What the POS database holds now (soft-deleted rows left out), as raw must hold it."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            tbl = sa.Table(table, sa.MetaData(), schema=schema, autoload_with=conn)
            rows = [dict(r._mapping) for r in conn.execute(sa.select(tbl))]
    finally:
        engine.dispose()
    return {expected_row(table, r) for r in rows if r.get("deleted_at") is None}


def raw_rows(warehouse, table: str) -> set[tuple]:
    columns = ", ".join(c.name for c in TABLES[table].columns)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(f"select {columns} from loyalty.{table}").fetchall()
    result = set()
    for row in rows:
        result.add(tuple(_utc(v) if isinstance(v, datetime) else v for v in row))
    assert len(result) == len(rows), f"duplicate rows in loyalty.{table}"
    return result


def assert_raw_matches_source(warehouse, url: str, schema: str | None = None) -> None:
    for table in TABLES:
        raw, source = raw_rows(warehouse, table), source_rows(url, table, schema)
        assert raw == source, (table, len(raw), len(source), sorted(raw ^ source)[:3])


@pytest.fixture()
def pos(small_systems, tmp_path, monkeypatch):
    """The POS database of the small world, a warehouse, and a loader (env settings apply per load)."""
    warehouse = tmp_path / "warehouse.duckdb"
    url = f"sqlite:///{small_systems / 'loyalty.sqlite'}"

    class Pos:
        def __init__(self):
            self.url, self.warehouse, self.path = url, warehouse, small_systems / "loyalty.sqlite"

        def load(self):
            with pipelines.source_endpoints(small_systems) as endpoints:
                info = pipelines.load("loyalty", endpoints, warehouse=warehouse, pipelines_dir=tmp_path / "dlt")
            assert not info.has_failed_jobs
            return loaded_rows(info)

        def sql(self, *statements: str, params=()):
            with sqlite3.connect(self.path) as db:
                for statement in statements:
                    db.execute(statement, params)

        def quarantine(self, table: str) -> list[tuple]:
            with duckdb.connect(str(warehouse), read_only=True) as con:
                return con.execute(
                    f"select record_key, reason, source_position from loyalty.{table}__quarantine order by 1, 2"
                ).fetchall()

    return Pos()


def _member_with_everything(world, pos_db) -> tuple[str, list[str], list[str], list[str], dict[str, list[dict]]]:
    """A member with two cards, receipts and points whom only the POS knows (no imported order names them: a
    deleted member then leaves every model), and the POS tables as they are then (a copy of the world's).

    Purchases at the till follow the world's value process: in the small world's 21 days few members buy, and
    none with two cards may. Then the first member with two cards buys at the till on their first card: a receipt
    and its points written to the POS database ``pos_db`` before anything is loaded, an hour after that card was
    issued (or the window opened; far behind the newest row, so no cursor depends on it)."""
    import copy

    loyalty = copy.deepcopy(world.loyalty)
    in_history = {row["loyalty_member_id"] for rows in world.history.values() for row in rows}
    for member in loyalty["members"]:
        if member["member_id"] in in_history:
            continue
        cards = [c["card_number"] for c in loyalty["cards"] if c["member_id"] == member["member_id"]]
        receipts = [r["receipt_id"] for r in loyalty["receipts"] if r["card_number"] in cards]
        points = [p["points_txn_id"] for p in loyalty["points"] if p["member_id"] == member["member_id"]]
        if len(cards) == 2 and receipts and points:
            return member["member_id"], cards, receipts, points, loyalty
    newest = max(r["updated_at"] for r in loyalty["receipts"])
    two_cards = {c["member_id"] for c in loyalty["cards"] if c["status"] != "active"} - in_history
    first = next(c for c in loyalty["cards"] if c["status"] == "active" and c["member_id"] in two_cards
                 and c["issued_at"] < newest - timedelta(days=1))
    bought = max(first["issued_at"], world.start.replace(tzinfo=None)) + timedelta(hours=1)
    receipt = {"receipt_id": "R8000001", "card_number": first["card_number"], "store_id": "store-03",
               "total_amount": 59.9, "purchased_at": bought, "updated_at": bought}
    point = {"points_txn_id": "T8000001", "member_id": first["member_id"], "receipt_id": "R8000001", "points": 59,
             "reason": "purchase", "created_at": bought, "updated_at": bought}
    with sqlite3.connect(pos_db) as db:
        for table, row in (("receipts", receipt), ("points", point)):
            db.execute(f"insert into {table} ({', '.join(row)}) values ({', '.join('?' * len(row))})",
                       [str(v) if isinstance(v, datetime) else v for v in row.values()])
    loyalty["receipts"].append(receipt)
    loyalty["points"].append(point)
    cards = [c["card_number"] for c in loyalty["cards"] if c["member_id"] == first["member_id"]]
    return first["member_id"], cards, ["R8000001"], ["T8000001"], loyalty


def _in(values) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


# --- 1. deletes --------------------------------------------------------------------------------------------------
def test_hard_deletes_in_the_pos_reach_raw(pos, small_world):
    member, cards, receipts, points, world = _member_with_everything(small_world, pos.path)
    pos.load()
    other_receipt = next(r["receipt_id"] for r in world["receipts"] if r["receipt_id"] not in receipts)
    other_card = next(  # a card deleted on its own: its receipts stay, as orphans
        c["card_number"] for c in world["cards"] if c["member_id"] != member and c["status"] == "active"
    )
    pos.sql(
        f"delete from points where member_id = '{member}'",
        f"delete from receipts where card_number in {_in(cards)}",
        f"delete from cards where member_id = '{member}'",
        f"delete from members where member_id = '{member}'",
        f"delete from receipts where receipt_id = '{other_receipt}'",
        f"delete from cards where card_number = '{other_card}'",
    )
    pos.load()

    assert count(pos.warehouse, "loyalty.members", f"member_id = '{member}'") == 0
    assert count(pos.warehouse, "loyalty.cards", f"card_number in {_in(cards + [other_card])}") == 0
    assert count(pos.warehouse, "loyalty.receipts", f"receipt_id in {_in(receipts + [other_receipt])}") == 0
    assert count(pos.warehouse, "loyalty.points", f"points_txn_id in {_in(points)}") == 0
    assert count(pos.warehouse, "loyalty.members") == len(world["members"]) - 1
    assert count(pos.warehouse, "loyalty.cards") == len(world["cards"]) - len(cards) - 1
    assert count(pos.warehouse, "loyalty.receipts") == len(world["receipts"]) - len(receipts) - 1
    assert count(pos.warehouse, "loyalty.points") == len(world["points"]) - len(points)
    assert_raw_matches_source(pos.warehouse, pos.url)

    # the markers go through dlt's hard_delete hint, and a reload finds nothing more to delete
    with duckdb.connect(str(pos.warehouse), read_only=True) as con:
        assert con.execute("select count(*) from loyalty.members where _deleted").fetchone()[0] == 0
    again = pos.load()
    assert again == rows_in_lag_window({t: [r for r in world[t] if r[TABLES[t].key] not in
                                            {member, other_card, other_receipt, *cards, *receipts, *points}]
                                        for t in world})
    assert_raw_matches_source(pos.warehouse, pos.url)


def test_a_soft_deleted_row_leaves_raw(pos, small_world):
    pos.load()
    member = small_world.loyalty["members"][3]["member_id"]
    receipt = small_world.loyalty["receipts"][5]["receipt_id"]
    pos.sql(
        f"update members set deleted_at = '2026-10-15 12:00:00', updated_at = '2026-10-15 12:00:00' where member_id = '{member}'",
        f"update receipts set deleted_at = '2026-10-15 12:00:00', updated_at = '2026-10-15 12:00:00' where receipt_id = '{receipt}'",
    )
    pos.load()
    assert count(pos.warehouse, "loyalty.members", f"member_id = '{member}'") == 0
    assert count(pos.warehouse, "loyalty.receipts", f"receipt_id = '{receipt}'") == 0
    assert_raw_matches_source(pos.warehouse, pos.url)
    # a till that marks a row deleted without touching updated_at (outside any window): the key scan sees it
    card = small_world.loyalty["cards"][2]["card_number"]
    pos.sql(f"update cards set deleted_at = '2026-10-15 12:00:00' where card_number = '{card}'")
    pos.load()
    assert count(pos.warehouse, "loyalty.cards", f"card_number = '{card}'") == 0
    assert_raw_matches_source(pos.warehouse, pos.url)


def test_an_emptied_source_table_is_an_error_not_a_mass_delete(pos, small_world):
    pos.load()
    pos.sql("delete from points")
    with pytest.raises(Exception, match="table 'points' is empty in the POS database"):
        pos.load()
    assert count(pos.warehouse, "loyalty.points") == len(small_world.loyalty["points"])


# --- 2. incremental ----------------------------------------------------------------------------------------------
def test_late_tills_load_within_the_lag_window_and_a_wider_window_reaches_further(pos, small_world, monkeypatch):
    pos.load()
    late = sync_late_tills(small_world, pos.url)
    assert late["receipts"] >= 3 and late["points"] >= 1
    newest = max(r["updated_at"] for r in small_world.loyalty["receipts"])
    assert all(r["updated_at"] < newest for r in small_world.loyalty_late["receipts"])  # older than the cursor

    # and one till later than the lag window: dated 2 windows before the newest receipt
    too_late = newest - timedelta(seconds=2 * DEFAULT_LAG_SECONDS)
    pos.sql(
        "insert into receipts (receipt_id, card_number, store_id, total_amount, purchased_at, updated_at) "
        "values ('R9000001', null, 'store-03', 9.99, ?, ?)",
        params=(str(too_late), str(too_late)),
    )
    loaded = pos.load()
    assert loaded["receipts"] == rows_in_lag_window(small_world.loyalty)["receipts"] + late["receipts"]
    receipts = small_world.loyalty["receipts"] + small_world.loyalty_late["receipts"]
    assert raw_rows(pos.warehouse, "receipts") == {expected_row("receipts", r) for r in receipts}
    points = small_world.loyalty["points"] + small_world.loyalty_late["points"]
    assert raw_rows(pos.warehouse, "points") == {expected_row("points", r) for r in points}
    assert count(pos.warehouse, "loyalty.receipts", "receipt_id = 'R9000001'") == 0  # outside the window

    # one run with a window wide enough (from dlt config / the environment) reaches it
    monkeypatch.setenv("SOURCES__LOYALTY__LAG_SECONDS", str(3 * DEFAULT_LAG_SECONDS))
    pos.load()
    assert count(pos.warehouse, "loyalty.receipts", "receipt_id = 'R9000001'") == 1
    assert_raw_matches_source(pos.warehouse, pos.url)


def test_a_change_at_the_cursor_that_keeps_updated_at_loads(pos, small_world, monkeypatch):
    monkeypatch.setenv("SOURCES__LOYALTY__LAG_SECONDS", "0")  # no lag window: the tie alone must do it
    pos.load()
    at_cursor = max(small_world.loyalty["members"], key=lambda m: m["updated_at"])
    pos.sql(f"update members set first_name = 'Changed' where member_id = '{at_cursor['member_id']}'")
    loaded = pos.load()
    assert loaded["members"] >= 1
    assert count(pos.warehouse, "loyalty.members", f"member_id = '{at_cursor['member_id']}' and first_name = 'Changed'") == 1
    assert_raw_matches_source(pos.warehouse, pos.url)


def test_cursor_values_are_utc_timestamps(pos, small_world):
    pos.load()
    with duckdb.connect(str(pos.warehouse), read_only=True) as con:
        types = dict(con.execute(
            "select table_name || '.' || column_name, data_type from information_schema.columns "
            "where table_schema = 'loyalty' and column_name in ('updated_at', 'purchased_at', 'total_amount', 'points', "
            "'marketing_opt_in')"
        ).fetchall())
    assert types["receipts.updated_at"] == types["receipts.purchased_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["members.updated_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["receipts.total_amount"] == "DECIMAL(12,2)"
    assert types["points.points"] == "BIGINT"
    assert types["members.marketing_opt_in"] == "BOOLEAN"
    # an update written with an explicit offset in text is compared as the instant it is (UTC), not as text
    member = small_world.loyalty["members"][0]["member_id"]
    pos.sql(f"update members set first_name = 'Offset', updated_at = '2026-10-15T14:00:00+02:00' where member_id = '{member}'")
    pos.load()
    with duckdb.connect(str(pos.warehouse), read_only=True) as con:
        at = con.execute(f"select updated_at from loyalty.members where member_id = '{member}'").fetchone()[0]
    assert at == datetime(2026, 10, 15, 12, tzinfo=timezone.utc)


def test_future_dated_rows_are_quarantined_and_never_move_the_cursor(pos, small_world, monkeypatch):
    pos.load()
    members = small_world.loyalty["members"]
    future, later = members[0]["member_id"], members[1]["member_id"]
    pos.sql(
        f"update members set phone = '+4915511111111', updated_at = '2099-01-01 00:00:00' where member_id = '{future}'",
        "insert into receipts (receipt_id, card_number, store_id, total_amount, purchased_at, updated_at) "
        "values ('R9000002', null, 'store-01', 12.50, '2099-01-01 00:00:00', '2099-01-01 00:00:00')",
    )
    pos.load()
    assert count(pos.warehouse, "loyalty.receipts", "receipt_id = 'R9000002'") == 0
    assert count(pos.warehouse, "loyalty.members", f"member_id = '{future}' and phone = '+4915511111111'") == 0
    expected = [(future, "updated_at: dated beyond the future tolerance", f"members member_id={future}")]
    assert pos.quarantine("members") == expected
    assert pos.quarantine("receipts") == [
        ("R9000002", "updated_at: dated beyond the future tolerance", "receipts receipt_id=R9000002")
    ]

    # the cursor did not move to 2099: a change dated now (well after every other row) still loads
    now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    pos.sql(f"update members set last_name = 'Later', updated_at = '{now}' where member_id = '{later}'")
    pos.load()
    assert count(pos.warehouse, "loyalty.members", f"member_id = '{later}' and last_name = 'Later'") == 1
    assert pos.quarantine("members") == expected  # quarantined again, never twice

    # a row 2 hours ahead is in the future beyond a 1 hour tolerance, not beyond a 3 hour one (time passing)
    ahead = now + timedelta(hours=2)
    pos.sql(f"update receipts set updated_at = '{ahead}' where receipt_id = 'R9000002'")
    monkeypatch.setenv("SOURCES__LOYALTY__FUTURE_TOLERANCE_SECONDS", "3600")
    pos.load()
    assert count(pos.warehouse, "loyalty.receipts", "receipt_id = 'R9000002'") == 0
    monkeypatch.setenv("SOURCES__LOYALTY__FUTURE_TOLERANCE_SECONDS", str(3 * 3600))
    pos.load()
    assert count(pos.warehouse, "loyalty.receipts", "receipt_id = 'R9000002'") == 1
    with duckdb.connect(str(pos.warehouse), read_only=True) as con:
        reasons = con.execute("select reason from loyalty.receipts__quarantine").fetchall()
    assert all("2099" not in r and "12.5" not in r for (r,) in reasons)  # no values in reasons


# --- 4. contracts ------------------------------------------------------------------------------------------------
def test_the_contract_types_normalises_and_reports(pos, small_world, caplog):
    pos.load()
    members = small_world.loyalty["members"]
    m0, m1 = members[0]["member_id"], members[1]["member_id"]
    receipt = small_world.loyalty["receipts"][0]["receipt_id"]
    stamp = "2026-10-15 12:00:00"
    pos.sql(
        "update members set email = ?, phone = ?, first_name = ?, updated_at = ? where member_id = ?",
        params=(" Anna.Weber\u200b@Mail.test\t", "+49\u00a0155 123\u200b4567", "\uff21nna\u3000", stamp, m0),
    )
    pos.sql("alter table members add column tier varchar(8)")
    pos.sql(f"update members set tier = 'gold', updated_at = '{stamp}' where member_id = '{m1}'")
    pos.sql(f"update receipts set total_amount = 'abc', updated_at = '{stamp}' where receipt_id = '{receipt}'")
    with caplog.at_level("WARNING"):
        pos.load()

    with duckdb.connect(str(pos.warehouse), read_only=True) as con:
        email, phone, first = con.execute(f"select email, phone, first_name from loyalty.members where member_id = '{m0}'").fetchone()
        tiers = con.execute("select member_id, tier from loyalty.members where tier is not null").fetchall()
        receipt_columns = [c for (c,) in con.execute("select column_name from (describe loyalty.receipts)").fetchall()]
        amount = con.execute(f"select total_amount from loyalty.receipts where receipt_id = '{receipt}'").fetchone()[0]
    assert (email, phone, first) == ("Anna.Weber@Mail.test", "+491551234567", "Anna")
    assert tiers == [(m1, "gold")]  # a new column is accepted ...
    assert "new source columns accepted" in caplog.text and "tier" in caplog.text  # ... and reported
    assert not any("__v_" in c for c in receipt_columns)  # never a variant column
    assert amount == Decimal(str(small_world.loyalty["receipts"][0]["total_amount"])).quantize(Decimal("0.01"))  # old version kept
    assert pos.quarantine("receipts") == [(receipt, "total_amount: expected decimal", f"receipts receipt_id={receipt}")]
    assert "abc" not in caplog.text and "Anna" not in caplog.text  # no values in the log


# --- deletes and orphans through every model (dbt) ----------------------------------------------------------------
def test_deletes_leave_every_model_and_orphans_are_kept_reported_and_flow_on(small_systems, small_world, tmp_path):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    project = Path(__file__).resolve().parents[1] / "dbt_project"
    warehouse = tmp_path / "warehouse.duckdb"

    def load(*names):
        with pipelines.source_endpoints(small_systems) as endpoints:
            for name in names:
                info = pipelines.load(name, endpoints, warehouse=warehouse, pipelines_dir=tmp_path / "dlt")
                assert not info.has_failed_jobs

    def dbt_build(*select: str) -> dict[str, str]:
        """``dbt build`` (of ``select``, else everything); returns the status of each loyalty relationships test."""
        target = tmp_path / "dbt_target"
        done = subprocess.run(
            [str(Path(sys.executable).with_name("dbt")), "build", *select, "--project-dir", str(project), "--profiles-dir",
             str(project), "--target-path", str(target), "--log-path", str(tmp_path / "dbt_logs")],
            env={**os.environ, "JW_WAREHOUSE_PATH": str(warehouse)}, capture_output=True, text=True,
        )
        assert done.returncode == 0, done.stdout[-3000:]
        results = json.loads((target / "run_results.json").read_text())["results"]
        return {r["unique_id"].split(".")[2]: r["status"] for r in results
                if r["unique_id"].startswith("test.") and "relationships_stg_loyalty" in r["unique_id"]}

    def query(sql: str) -> list[tuple]:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return con.execute(sql).fetchall()

    member, cards, receipts, points, loyalty = _member_with_everything(small_world, small_systems / "loyalty.sqlite")
    load("shop", "esp", "social", "iot", "loyalty", "history")
    assert set(dbt_build().values()) == {"pass"}
    assert query(f"select count(*) from intermediate.int_touchpoints where touchpoint_id in "
                 f"{_in('receipt:' + r for r in receipts)}") == [(len(receipts),)]

    pos = small_systems / "loyalty.sqlite"
    with sqlite3.connect(pos) as db:
        for statement in (
            f"delete from points where member_id = '{member}'",
            f"delete from consents where member_id = '{member}'",
            f"delete from receipts where card_number in {_in(cards)}",
            f"delete from cards where member_id = '{member}'",
            f"delete from members where member_id = '{member}'",
            # orphans: a receipt of a card, and points of a member, the POS has not synced yet
            "insert into receipts (receipt_id, card_number, store_id, total_amount, purchased_at, updated_at) "
            "values ('R9100001', '9999000011112222', 'store-02', 42.00, '2026-10-15 12:00:00', '2026-10-15 12:00:00')",
            "insert into points (points_txn_id, member_id, receipt_id, points, reason, created_at, updated_at) "
            "values ('T9100001', 'M9000001', 'R9100001', 42, 'purchase', '2026-10-15 12:00:00', '2026-10-15 12:00:00')",
        ):
            db.execute(statement)
    load("loyalty")
    # after the first build, only the loyalty POS changes: what reads it, with its data tests (the other models
    # and the unit tests, which read no data, were built and run above)
    loyalty_models = ("--select", "source:loyalty+", "--exclude-resource-type", "unit_test")
    statuses = dbt_build(*loyalty_models)
    assert statuses == {name: "warn" if ("card_number" in name or ("points" in name and "member" in name)) else "pass"
                        for name in statuses}, statuses
    assert sum(s == "warn" for s in statuses.values()) == 2

    # the deleted member is in no model any more
    ids = [member, *cards]
    assert query(f"select count(*) from pii.stg_loyalty__members where loyalty_member_id = '{member}'") == [(0,)]
    assert query(f"select count(*) from pii.stg_loyalty__cards where card_number in {_in(cards)}") == [(0,)]
    assert query(f"select count(*) from pii.stg_loyalty__receipts where receipt_id in {_in(receipts)}") == [(0,)]
    assert query(f"select count(*) from staging.stg_loyalty__points where points_txn_id in {_in(points)}") == [(0,)]
    assert query(f"select count(*) from staging.stg_loyalty__consents where loyalty_member_id = '{member}'") == [(0,)]
    assert query(f"select count(*) from intermediate.int_identity__identifier_map where identifier_value in {_in(ids)}") == [(0,)]
    assert query("select count(*) from intermediate.int_identity__edges where "
                 + " or ".join(f"node like '%{i}' or linked_node like '%{i}'" for i in ids)) == [(0,)]
    assert query(f"select count(*) from intermediate.int_touchpoints where touchpoint_id in "
                 f"{_in('receipt:' + r for r in receipts)}") == [(0,)]
    carded = [r for r in loyalty["receipts"] if r["card_number"] and r["receipt_id"] not in receipts]
    assert query("select sum(pos_receipts), sum(loyalty_points_earned) from marts.customer_360") == [
        (len(carded), sum(p["points"] for p in loyalty["points"] if p["points_txn_id"] not in points))
    ]

    # the orphans are kept in raw and staging, not yet attached to anybody
    assert query("select card_number from pii.stg_loyalty__receipts where receipt_id = 'R9100001'") == [("9999000011112222",)]
    assert query("select loyalty_member_id from staging.stg_loyalty__points where points_txn_id = 'T9100001'") == [("M9000001",)]
    assert query("select count(*) from intermediate.int_touchpoints where touchpoint_id = 'receipt:R9100001'") == [(0,)]

    # the parents arrive: the receipt flows on to its person, with its points
    with sqlite3.connect(pos) as db:
        db.execute("insert into members (member_id, email, phone, first_name, last_name, marketing_opt_in, joined_at, updated_at) "
                   "values ('M9000001', 'late.member@mail.test', null, 'Late', 'Member', 0, '2026-10-15 12:00:00', '2026-10-15 12:00:00')")
        db.execute("insert into cards (card_number, member_id, status, issued_at, updated_at) "
                   "values ('9999000011112222', 'M9000001', 'active', '2026-10-15 12:00:00', '2026-10-15 12:00:00')")
    load("loyalty")
    assert set(dbt_build(*loyalty_models).values()) == {"pass"}
    assert query(
        "select t.points, t.revenue, t.person_id = m.person_id from intermediate.int_touchpoints t "
        "join intermediate.int_identity__identifier_map m on m.identifier_type = 'loyalty_member' and m.identifier_value = 'M9000001' "
        "where t.touchpoint_id = 'receipt:R9100001'"
    ) == [(42, Decimal("42.00"), True)]


def test_consent_decisions_land_typed_and_a_bad_one_is_quarantined_with_its_reason(pos, small_world):
    """loyalty.consents (the member's decisions per purpose) lands exactly as the POS holds it; a decision whose
    `granted` is not a boolean goes to quarantine with the column and type, never the value, and nothing else is lost."""
    first = small_world.loyalty["consents"][0]
    pos.sql(
        "insert into consents (consent_id, member_id, purpose, granted, decided_at, updated_at) values (?, ?, ?, ?, ?, ?)",
        params=("C9900001", first["member_id"], "profiling", "maybe", "2026-09-01 10:00:00", "2026-09-01 10:00:00"),
    )
    pos.load()
    assert pos.quarantine("consents") == [("C9900001", "granted: expected bool", "consents consent_id=C9900001")]
    assert raw_rows(pos.warehouse, "consents") == {expected_row("consents", r) for r in small_world.loyalty["consents"]}
