"""The historical orders source (plain dlt into a temporary DuckDB, no Dagster), row for row with the generator.

The small world's history export (a CSV with ISO dates, a Parquet file with YYYYMMDD dates, bad rows of every kind
mixed in) is read from a fresh folder per test. What the rows should become is worked out here from the files'
values, independently of the source's parser."""

from __future__ import annotations

import csv
import dataclasses
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingestion import pipelines
from ingestion.demo_world.value import BAD_ROW_KINDS
from ingestion.demo_world.writers import write_history

from .conftest import loaded_rows, rows

# what the quarantine says for each kind of bad row the generator mixes in
REASONS = {
    "bad_date": "date: expected YYYY-MM-DD or YYYYMMDD",
    "future_date": "date: in the future",
    "bad_amount": "amount: expected a decimal",
    "negative_amount": "amount: negative",
    "no_identifier": "no identifier: shop_customer_id, loyalty_member_id and email are empty",
    "unknown_channel": "channel: expected online or pos",
}
COLUMNS = "order_id, identifier_type, identifier_value, ordered_on, amount, channel, source_file, source_line"


@pytest.fixture()
def history(small_world, tmp_path) -> Path:
    folder = tmp_path / "history"
    write_history(small_world, folder)
    return folder


@pytest.fixture()
def load(history, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    endpoints = dataclasses.replace(pipelines.OFFLINE, history_url=history.as_uri())

    def _load():
        info = pipelines.load("history", endpoints, warehouse=warehouse, pipelines_dir=tmp_path / "dlt")
        assert not info.has_failed_jobs
        return info

    _load.warehouse = warehouse
    return _load


def _day(value) -> date:
    text = str(value).strip()
    return date.fromisoformat(text) if "-" in text else date(int(text[:4]), int(text[4:6]), int(text[6:]))


def expected_rows(world) -> set[tuple]:
    """The good rows of the export as raw ``history.orders`` holds them (``COLUMNS``), from the files' values."""
    bad = {(b["file"], b["line"]) for b in world.history_bad}
    out = set()
    for name, file_rows in world.history.items():
        first = 2 if name.endswith(".csv") else 1
        for line, row in enumerate(file_rows, start=first):
            if (name, line) in bad:
                continue
            shop, member, email = (str(row[k]).strip() if row[k] not in (None, "") else None
                                   for k in ("shop_customer_id", "loyalty_member_id", "email"))
            kind, value = ("shop_customer", shop) if shop else ("loyalty_member", member) if member else ("history_email", email.lower())
            out.add((row["order_id"] or None, kind, value, _day(row["date"]), Decimal(str(row["amount"])).quantize(Decimal("0.01")),
                     row["channel"].lower(), name, line))
    return out


def test_every_good_row_loads_once_as_the_generator_wrote_it(load, small_world):
    info = load()
    good = expected_rows(small_world)
    assert loaded_rows(info)["orders"] == len(good)
    assert set(rows(load.warehouse, f"select {COLUMNS} from history.orders")) == good
    # both formats: an ISO CSV and a YYYYMMDD Parquet file, each with rows
    assert {f for (*_, f, _line) in good} == set(small_world.history) and len(small_world.history) == 2
    # one row per order: the order id where the file has one, else a key of the row's content
    keys = rows(load.warehouse, "select history_order_id, order_id from history.orders")
    assert len({k for k, _ in keys}) == len(keys)
    assert all(k == o for k, o in keys if o is not None)
    # the keys are the generator's: every history purchase of the value process, plus the overlap rows (which are
    # the live Shopify orders of the first days, under their order id)
    truth = {t["transaction_id"] for t in small_world.value_transactions if t["source"] == "history"}
    shop_orders = {str(o["id"]) for o in small_world.shop["orders"]}
    loaded = {k for k, _ in keys}
    assert truth <= loaded and loaded - truth <= shop_orders and loaded - truth


def test_each_kind_of_bad_row_is_quarantined_with_its_reason_and_place_never_its_values(load, small_world):
    load()
    quarantined = rows(load.warehouse, "select source_position, reason, record_key from history.orders__quarantine")
    expected = {(f"{b['file']}:{b['line']}", REASONS[b["kind"]]) for b in small_world.history_bad}
    assert {(p, r) for p, r, _ in quarantined} == expected
    assert {b["kind"] for b in small_world.history_bad} == set(BAD_ROW_KINDS)
    assert all(key is None for *_, key in quarantined)
    values = {str(v).strip().lower() for name, file_rows in small_world.history.items() for b in small_world.history_bad
              if b["file"] == name for v in file_rows[b["line"] - (2 if name.endswith(".csv") else 1)].values() if v not in (None, "")}
    text = " ".join(f"{p} {r}" for p, r, _ in quarantined).lower()
    assert not [v for v in values if len(v) > 3 and v in text and v not in ("online", "date", "amount", "channel")]


def test_a_second_run_loads_nothing_and_a_new_file_later_is_picked_up(load, history, small_world):
    load()
    before = rows(load.warehouse, f"select {COLUMNS}, history_order_id from history.orders order by all")
    again = load()
    assert "orders" not in loaded_rows(again) and "orders__quarantine" not in loaded_rows(again)
    assert rows(load.warehouse, f"select {COLUMNS}, history_order_id from history.orders order by all") == before

    # a later export in a subfolder: YYYYMMDD dates in a CSV, upper-case header, a row already loaded (same order id:
    # merged, not doubled), a new one without an order id, the same purchase twice (two orders), a bad one
    known = next(r for r in small_world.history["legacy_orders.csv"] if r["order_id"])
    (history / "2026").mkdir()
    with open(history / "2026" / "late_export.csv", "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["ORDER_ID", "EMAIL", "DATE", "AMOUNT", "CHANNEL", "SHOP_CUSTOMER_ID", "NOTE"])
        writer.writerow([known["order_id"], "", known["date"].replace("-", ""), known["amount"], "online",
                         known["shop_customer_id"], "re-exported"])
        writer.writerow(["", " New.Buyer@Example.TEST ", "20260102", "12.50", "POS", "", ""])
        writer.writerow(["", "new.buyer@example.test", "20260102", "12.50", "pos", "", "same again"])
        writer.writerow(["", "new.buyer@example.test", "2026-01-02", "12.505", "pos", "", ""])
    info = load()
    assert loaded_rows(info)["orders"] == 3 and loaded_rows(info)["orders__quarantine"] == 1
    assert rows(load.warehouse, "select count(*) from history.orders")[0][0] == len(before) + 2
    new = rows(load.warehouse, "select identifier_type, identifier_value, ordered_on, amount, channel, source_line "
                               "from history.orders where source_file = '2026/late_export.csv' order by source_line")
    assert new == [
        ("shop_customer", known["shop_customer_id"], _day(known["date"]), Decimal(known["amount"]), "online", 2),
        ("history_email", "new.buyer@example.test", date(2026, 1, 2), Decimal("12.50"), "pos", 3),
        ("history_email", "new.buyer@example.test", date(2026, 1, 2), Decimal("12.50"), "pos", 4),
    ]
    assert rows(load.warehouse, "select reason from history.orders__quarantine where source_position = '2026/late_export.csv:5'") == [
        ("amount: more than 2 decimal places",)
    ]


def test_a_file_that_is_no_history_file_is_quarantined_by_name_and_the_others_still_load(load, history, small_world):
    pq.write_table(pa.table({"customer": ["a"], "when": ["2025-01-01"]}), history / "not_orders.parquet")
    (history / "broken.parquet").write_bytes(b"PAR1 not really")
    info = load()
    assert loaded_rows(info)["orders"] == len(expected_rows(small_world))
    reasons = dict(rows(load.warehouse, "select source_position, reason from history.orders__quarantine "
                                        "where source_position not like '%:%'"))
    assert reasons == {
        "not_orders.parquet": "file: missing column(s) date, amount, shop_customer_id|loyalty_member_id|email",
        "broken.parquet": "file: not a readable Parquet file (ArrowInvalid)",
    }


def test_the_folder_comes_from_jw_history_dir_or_the_source_systems(monkeypatch, tmp_path):
    for name in pipelines.API_SOURCES:  # real APIs "configured": no demo servers needed for this
        monkeypatch.setenv(f"JW_{name.upper()}_API_URL", f"http://127.0.0.1:9/{name}")
    monkeypatch.delenv("JW_HISTORY_DIR", raising=False)
    with pipelines.source_endpoints(tmp_path / "systems") as endpoints:
        assert endpoints.history_url == (tmp_path / "systems" / "history").as_uri()
    monkeypatch.setenv("JW_HISTORY_DIR", str(tmp_path / "exports"))
    with pipelines.source_endpoints(tmp_path / "systems") as endpoints:
        assert endpoints.history_url == (tmp_path / "exports").as_uri()
    assert Counter(type(r).__name__ for r in [pipelines.build_source("history")]) == {"DltSource": 1}


def test_no_history_yet_gives_empty_tables_that_staging_can_read(tmp_path):
    endpoints = dataclasses.replace(pipelines.OFFLINE, history_url=(tmp_path / "not_there_yet").as_uri())
    info = pipelines.load("history", endpoints, warehouse=tmp_path / "warehouse.duckdb", pipelines_dir=tmp_path / "dlt")
    assert not info.has_failed_jobs
    assert rows(tmp_path / "warehouse.duckdb", "select (select count(*) from history.orders), "
                                               "(select count(*) from history.orders__quarantine)") == [(0, 0)]
