"""The shared ingestion core: typed contracts, quarantine, newest-wins, the cursor. No network, no Dagster."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pyarrow as pa
import pytest

from ingestion.sources._contracts import (
    Child,
    Col,
    Contract,
    Cursor,
    conform,
    normalize_identifier,
    normalize_text,
)

NOW = datetime(2026, 10, 1, tzinfo=timezone.utc)
LINES = Contract(
    "orders__lines",
    (Col("order_id", "bigint", nullable=False), Col("line_id", "text", nullable=False), Col("unit_price", "decimal")),
    primary_key=("order_id", "line_id"),
)
ORDERS = Contract(
    "orders",
    (
        Col("id", "bigint", nullable=False),
        Col("email", "text", identifier=True),
        Col("total_price", "decimal"),
        Col("value", "double"),
        Col("updated_at", "timestamp", nullable=False),
    ),
    primary_key=("id",),
    cursor="updated_at",
    children=(Child("lines", LINES, parent_key="order_id"),),
)


def order(id, updated_at="2026-09-01T10:00:00Z", **fields):
    return {"id": id, "updated_at": updated_at, **fields}


def test_types_come_from_the_contract_not_from_the_first_row():
    batch = conform([order(1, value=500), order(2, value=12.5), order(3, value="7")], ORDERS, position="p", now=NOW)
    assert batch.table.schema.field("value").type == pa.float64()
    assert batch.table.column("value").to_pylist() == [500.0, 12.5, 7.0]
    assert batch.quarantine == []


def test_a_value_of_the_wrong_type_is_quarantined_with_the_column_and_position_not_the_value():
    batch = conform([order(1, total_price="19.90"), order(2, total_price="abc", email="x@y.test")], ORDERS, position="page 3", now=NOW)
    assert batch.table.column("id").to_pylist() == [1]
    assert batch.table.column("total_price").to_pylist() == [Decimal("19.90")]
    [row] = batch.quarantine
    assert row["record_key"] == "2" and row["source_position"] == "page 3#1" and row["table_name"] == "orders"
    assert row["reason"] == "total_price: expected a decimal"
    assert "abc" not in str(row) and "x@y.test" not in str(row)


@pytest.mark.parametrize(
    "updated_at, reason",
    [("2026-13-45T00:00:00Z", "updated_at: expected an ISO-8601 timestamp"), ("2026-09-01T10:00:00", "updated_at: timestamp without a time zone"), (None, "updated_at: missing")],
)
def test_a_bad_or_missing_timestamp_is_quarantined_never_null(updated_at, reason):
    batch = conform([order(1, updated_at=updated_at)], ORDERS, position="p", now=NOW)
    assert batch.table.num_rows == 0
    assert batch.quarantine[0]["reason"] == reason


def test_timestamps_are_compared_in_utc_whatever_the_offset():
    batch = conform([order(1, "2026-09-01T12:00:00+02:00"), order(1, "2026-09-01T10:30:00Z")], ORDERS, position="p", now=NOW)
    assert batch.table.column("updated_at").to_pylist() == [datetime(2026, 9, 1, 10, 30, tzinfo=timezone.utc)]


def test_the_newest_version_of_a_key_wins_inside_a_batch_whatever_the_order():
    newer, older = order(1, "2026-09-02T00:00:00Z", value=2), order(1, "2026-09-01T00:00:00Z", value=1)
    for records in ([newer, older], [older, newer]):
        batch = conform(records, ORDERS, position="p", now=NOW)
        assert batch.table.column("value").to_pylist() == [2.0]
    same_time = conform([order(1, value=1), order(1, value=2)], ORDERS, position="p", now=NOW)
    assert same_time.table.column("value").to_pylist() == [2.0]  # on a tie the later record wins


def test_a_record_from_the_future_is_quarantined_and_does_not_move_the_cursor():
    batch = conform([order(1, "2099-01-01T00:00:00Z"), order(2, "2026-09-30T00:00:00Z")], ORDERS, position="p", now=NOW)
    assert batch.table.column("id").to_pylist() == [2]
    assert batch.max_cursor == datetime(2026, 9, 30, tzinfo=timezone.utc)
    assert batch.quarantine[0]["reason"] == "updated_at: in the future beyond the tolerance"
    tolerated = conform([order(1, (NOW + timedelta(hours=2)).isoformat())], ORDERS, position="p", now=NOW)
    assert tolerated.table.num_rows == 1  # within a day: clocks drift


def test_identifiers_lose_every_space_and_text_is_nfkc():
    assert normalize_identifier("\tAnna.Schmidt\u200b@Mail.test \u00a0") == "Anna.Schmidt@Mail.test"
    assert normalize_identifier("ａｎｎａ@mail.test") == "anna@mail.test"  # full-width letters
    assert normalize_text("\ufeff Caf\u00e9 ") == "Café"
    batch = conform([order(1, email=" a\u200bb@c.test\t")], ORDERS, position="p", now=NOW)
    assert batch.table.column("email").to_pylist() == ["ab@c.test"]


def test_a_new_column_is_accepted_as_text_and_reported():
    batch = conform([order(1, note="gift", tags=["a"]), order(2)], ORDERS, position="p", now=NOW)
    assert batch.new_columns == {"note", "tags"}
    assert batch.table.column("note").to_pylist() == ["gift", None]
    assert batch.table.column("tags").to_pylist() == ['["a"]', None]


def test_children_carry_their_parent_key_and_a_bad_line_quarantines_its_whole_order():
    good = order(1, lines=[{"line_id": "1-1", "unit_price": "5.00"}, {"line_id": "1-2", "unit_price": 3}])
    bad = order(2, lines=[{"line_id": "2-1", "unit_price": "five"}])
    batch = conform([good, bad], ORDERS, position="p", now=NOW)
    assert batch.children["orders__lines"].to_pylist() == [
        {"order_id": 1, "line_id": "1-1", "unit_price": Decimal("5.00")},
        {"order_id": 1, "line_id": "1-2", "unit_price": Decimal("3.00")},
    ]
    assert batch.table.column("id").to_pylist() == [1]
    assert batch.quarantine[0]["reason"] == "lines[0].unit_price: expected a decimal"


def test_requarantining_the_same_record_for_the_same_reason_gives_the_same_id():
    first = conform([order(2, total_price="abc")], ORDERS, position="page 1", now=NOW).quarantine[0]
    again = conform([order(2, total_price="abc")], ORDERS, position="page 7", now=NOW + timedelta(days=1)).quarantine[0]
    assert first["quarantine_id"] == again["quarantine_id"]


def test_cursor_starts_a_lag_window_before_its_position_and_only_moves_forward():
    state: dict = {}
    cursor = Cursor(initial=datetime(2020, 1, 1, tzinfo=timezone.utc), lag=timedelta(hours=1), state=state)
    assert cursor.start == datetime(2020, 1, 1, tzinfo=timezone.utc)
    cursor.advance(datetime(2026, 9, 1, 12, tzinfo=timezone.utc))
    cursor.advance(datetime(2026, 9, 1, 11, tzinfo=timezone.utc))
    cursor.advance(None)
    again = Cursor(initial=datetime(2020, 1, 1, tzinfo=timezone.utc), lag=timedelta(hours=1), state=state)
    assert again.last_value == datetime(2026, 9, 1, 12, tzinfo=timezone.utc)
    assert again.start == datetime(2026, 9, 1, 11, tzinfo=timezone.utc)


def test_a_record_that_is_not_an_object_is_quarantined_with_that_one_reason():
    batch = conform([order(1), ["not", "an", "object"], "text"], ORDERS, position="p", now=NOW)
    assert batch.table.column("id").to_pylist() == [1]
    assert [q["reason"] for q in batch.quarantine] == ["not a JSON object", "not a JSON object"]
    assert [q["source_position"] for q in batch.quarantine] == ["p#1", "p#2"]
