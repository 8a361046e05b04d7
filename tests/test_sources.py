"""Each dlt source on its own (no Dagster): exact counts, idempotent reloads, incremental pick-up, opt-in.

The HTTP sources have their own files: tests/test_<shop|esp|social>_source.py and _api.py."""

import json
from datetime import datetime, timedelta, timezone

import pytest

from ingestion import pipelines
from ingestion.demo_world.writers import BAD_READING_LINES

from .conftest import count, loaded_rows, rows, snapshot
from .test_loyalty import rows_in_lag_window

TABLES = {
    "loyalty": ["members", "cards", "receipts", "points", "consents"],
}


@pytest.fixture()
def load(small_systems, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"

    def _load(name):
        with pipelines.source_endpoints(small_systems) as endpoints:
            info = pipelines.load(name, endpoints, warehouse=warehouse, pipelines_dir=tmp_path / "dlt")
        assert not info.has_failed_jobs
        return info

    _load.warehouse = warehouse
    return _load


@pytest.mark.parametrize("name", sorted(TABLES))
def test_source_loads_exactly_the_generated_rows_and_a_reload_adds_nothing(name, load, small_world):
    load(name)
    expected = {table: len(small_world.tables()[name][table]) for table in TABLES[name]}
    assert {t: count(load.warehouse, f"{name}.{t}") for t in TABLES[name]} == expected

    before = {t: snapshot(load.warehouse, f"{name}.{t}") for t in TABLES[name]}
    second = load(name)
    if name == "loyalty":  # each run reads the lag window again (tills that sync late): exactly that, changing nothing
        assert loaded_rows(second) == rows_in_lag_window(small_world.loyalty)
    else:
        assert loaded_rows(second) == {}
    assert {t: count(load.warehouse, f"{name}.{t}") for t in TABLES[name]} == expected
    assert {t: snapshot(load.warehouse, f"{name}.{t}") for t in TABLES[name]} == before


def test_loyalty_incremental_reads_only_changed_rows(load, small_systems, small_world):
    import sqlite3

    load("loyalty")
    with sqlite3.connect(small_systems / "loyalty.sqlite") as db:
        db.execute("update members set phone = '+4915500000000', updated_at = '2026-10-15 12:00:00' where member_id = 'M000001'")
    info = load("loyalty")
    window = rows_in_lag_window(small_world.loyalty)
    assert loaded_rows(info) == {**window, "members": window["members"] + 1}
    assert count(load.warehouse, "loyalty.members", "member_id = 'M000001' and phone = '+4915500000000'") == 1


def test_iot_loads_only_opted_in_devices_and_quarantines_bad_lines(load, small_world):
    load("iot")
    devices = small_world.iot["devices"]
    opted_in = small_world.iot_opted_in()  # consent holds at the end of the window
    good = small_world.iot_consented_readings()  # recorded while the device's consent held
    assert opted_in and len(good) < len(small_world.iot["readings"])

    assert count(load.warehouse, "iot.readings") == len(good)
    assert {r for (r,) in rows(load.warehouse, "select reading_id from iot.readings")} == {r["reading_id"] for r in good}
    assert count(load.warehouse, "iot.devices") == len(devices)
    assert count(load.warehouse, "iot.devices", "not opted_in and owner_email is not null") == 0
    assert count(load.warehouse, "iot.devices", "opted_in and owner_email is not null") == len(opted_in)

    import duckdb

    with duckdb.connect(str(load.warehouse), read_only=True) as con:
        quarantined = con.execute(
            "select source_position, reason from iot.readings__quarantine order by split_part(source_position, ':', 2)::int"
        ).fetchall()
    assert len(quarantined) == len(BAD_READING_LINES) == 3
    assert [reason for _, reason in quarantined] == ["not valid JSON", "device_id: missing", "not valid JSON"]

    second = load("iot")
    assert loaded_rows(second) == {}
    assert count(load.warehouse, "iot.readings") == len(good)


def test_a_missing_source_system_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no source systems at"):
        with pipelines.source_endpoints(tmp_path / "nothing-here"):
            pass


def test_an_opt_out_removes_the_owner_stops_new_readings_and_deletes_the_landed_ones(load, small_systems, small_world):
    load("iot")
    registry = small_systems / "iot_drop" / "devices" / "registry.ndjson"
    devices = [json.loads(line) for line in registry.read_text().splitlines()]
    landed = {}
    for r in small_world.iot_consented_readings():
        landed.setdefault(r["device_id"], set()).add(r["reading_id"])
    leaver = next(d for d in devices if d["opted_in"] and d["device_id"] in landed)
    where = f"device_id = '{leaver['device_id']}'"
    assert {r for (r,) in rows(load.warehouse, f"select reading_id from iot.readings where {where}")} == landed[leaver["device_id"]]
    leaver.update(opted_in=False, updated_at=f"{datetime.now(timezone.utc) - timedelta(minutes=1):%Y-%m-%dT%H:%M:%SZ}")
    registry.write_text("".join(json.dumps(d) + "\n" for d in devices))
    (small_systems / "iot_drop" / "readings" / "2030-01-02.ndjson").write_text(
        json.dumps({"reading_id": "late-1", "device_id": leaver["device_id"], "metric": "steps",
                    "value": 1, "recorded_at": "2030-01-02T08:00:00Z"}) + "\n"
    )

    info = load("iot")
    # the new state, the decision in the history, and one delete row per reading of the device already landed
    assert loaded_rows(info) == {"devices": 1, "device_consents": 1, "readings": len(landed[leaver["device_id"]])}
    assert count(load.warehouse, "iot.devices", f"{where} and not opted_in and owner_email is null") == 1
    assert count(load.warehouse, "iot.readings", "reading_id = 'late-1'") == 0
    assert count(load.warehouse, "iot.readings", where) == 0  # deleted from raw, not hidden
    others = {r for d, ids in landed.items() if d != leaver["device_id"] for r in ids}
    assert {r for (r,) in rows(load.warehouse, "select reading_id from iot.readings")} == others
    assert loaded_rows(load("iot")) == {}  # nothing deleted twice
