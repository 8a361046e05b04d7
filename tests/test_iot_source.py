"""The IoT source against the failures of issue 5, row for row with the generator's truth (no Dagster).

Each test injects one fault into a fresh copy of the small world's drop folder (seed 7, 300 people) and checks what
lands in raw (and, where the issue says so, in staging)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ingestion import pipelines

from .conftest import count, loaded_rows, rows

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture()
def drop(small_systems) -> Path:
    return small_systems / "iot_drop"


@pytest.fixture()
def load(small_systems, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"

    def _load():
        with pipelines.source_endpoints(small_systems) as endpoints:
            info = pipelines.load("iot", endpoints, warehouse=warehouse, pipelines_dir=tmp_path / "dlt")
        assert not info.has_failed_jobs
        return info

    _load.warehouse = warehouse
    return _load


def epoch_ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def truth_readings(world, devices: set[str] | None = None) -> set[tuple]:
    """The generator's readings recorded while their device's consent held (of ``devices`` only, when given)."""
    return {
        (r["reading_id"], r["device_id"], r["metric"], float(r["value"]), epoch_ms(r["recorded_at"]))
        for r in world.iot_consented_readings()
        if devices is None or r["device_id"] in devices
    }


def steady_device(world) -> str:
    """A device opted in since before 2026-09-20 that never withdrew (extra readings of it dated later count)."""
    limit = datetime(2026, 9, 20, tzinfo=timezone.utc)
    return next(d for d, spans in sorted(world.iot_consent_periods().items())
                if len(spans) == 1 and spans[0][1] is None and spans[0][0] < limit)  # fmt: skip


def raw_readings(warehouse: Path, where: str = "true") -> set[tuple]:
    got = rows(warehouse, f"select reading_id, device_id, metric, value, epoch_ms(recorded_at) from iot.readings where {where}")
    assert len(got) == len(set(got))
    return set(got)


def write_ndjson(path: Path, records: list, raw: bytes = b"") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in records) + raw)


def iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def dbt_staging(warehouse: Path, tmp_path: Path) -> dict[str, tuple[str, int]]:
    """Build the IoT staging models (and the consent periods) and run their tests and the IoT source's tests on the test warehouse;
    returns each test's (status, failures)."""
    dbt = str(Path(sys.executable).with_name("dbt"))
    project = REPO / "dbt_project"
    subprocess.run(
        [dbt, "build", "--quiet", "--select", "staging.iot", "intermediate.iot", "source:iot", "--indirect-selection", "cautious", "--project-dir", str(project),
         "--profiles-dir", str(project), "--target-path", str(tmp_path / "dbt_target"), "--log-path", str(tmp_path / "dbt_logs")],
        check=True, cwd=project,
        env={**os.environ, "JW_WAREHOUSE_PATH": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
    )  # fmt: skip
    results = json.loads((tmp_path / "dbt_target" / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[2]: (r["status"], r["failures"]) for r in results if r["unique_id"].startswith("test.")}


# --- type drift ------------------------------------------------------------------------------------------------------


def test_readings_are_typed_by_the_contract_not_by_the_first_row(load, small_world):
    """Seed 7: the first reading is an integer step count, then 500 km_driven readings are decimals. The old source
    typed `value` from the first row (bigint) and sent 454 of 500 decimals to a `value__v_double` variant column,
    NULL in staging. Now every value lands as a double, equal to the generator's."""
    km = [r for r in small_world.iot_consented_readings() if r["metric"] == "km_driven"]
    assert len(km) >= 300
    assert sum(1 for r in km if r["value"] != int(r["value"])) >= 0.8 * len(km)  # the drift is there

    load()
    columns = dict(rows(load.warehouse, "select column_name, data_type from information_schema.columns "
                                        "where table_schema = 'iot' and table_name = 'readings'"))  # fmt: skip
    assert columns["value"] == "DOUBLE"
    assert columns["recorded_at"] == "TIMESTAMP WITH TIME ZONE"
    assert not [c for c in columns if c.startswith("value__v_")]
    assert raw_readings(load.warehouse) == truth_readings(small_world)
    assert count(load.warehouse, "iot.readings", "metric = 'km_driven' and value is not null") == len(km)


def test_any_seed_lands_every_value(small_world, tmp_path):
    """A world whose first reading is a decimal (types drift the other way) lands every value too."""
    from ingestion.demo_world import generate
    from ingestion.demo_world.writers import write_world

    world = next(w for w in (generate(seed=s, people=120, days=7) for s in range(1, 30))
                 if w.iot["readings"] and w.iot["readings"][0]["metric"] == "km_driven")  # fmt: skip
    write_world(world, tmp_path / "ss")
    with pipelines.source_endpoints(tmp_path / "ss") as endpoints:
        pipelines.load("iot", endpoints, warehouse=tmp_path / "w.duckdb", pipelines_dir=tmp_path / "dlt")
    assert raw_readings(tmp_path / "w.duckdb") == truth_readings(world)
    assert count(tmp_path / "w.duckdb", "iot.readings", "value is null") == 0


def test_a_reading_that_breaks_the_contract_is_quarantined_with_its_position_never_its_text(load, drop, small_world):
    device = steady_device(small_world)
    good = {"reading_id": "x-good", "device_id": device, "metric": "steps", "value": 7, "recorded_at": "2026-09-20T08:00:00+02:00"}
    write_ndjson(drop / "readings" / "2026-09-20-extra.ndjson", [
        good,
        dict(good, reading_id="x-text", value="many"),           # line 2: value not a number
        dict(good, reading_id="x-date", recorded_at="yesterday"),  # line 3: not a timestamp
        dict(good, reading_id="x-bool", value=True),              # line 4: a boolean is not a double
        ["not", "an", "object"],                                  # line 5
    ])  # fmt: skip
    load()
    assert raw_readings(load.warehouse, "reading_id like 'x-%'") == {
        ("x-good", device, "steps", 7.0, epoch_ms("2026-09-20T06:00:00+00:00"))  # offset converted to UTC
    }
    quarantined = rows(load.warehouse, "select record_key, source_position, reason from iot.readings__quarantine "
                                       "where source_position like 'readings/2026-09-20-extra%' order by 2")  # fmt: skip
    assert quarantined == [
        ("x-text", "readings/2026-09-20-extra.ndjson:2", "value: expected a number"),
        ("x-date", "readings/2026-09-20-extra.ndjson:3", "recorded_at: expected an ISO-8601 timestamp"),
        ("x-bool", "readings/2026-09-20-extra.ndjson:4", "value: expected a number"),
        (None, "readings/2026-09-20-extra.ndjson:5", "not a JSON object"),
    ]
    assert raw_readings(load.warehouse, "reading_id not like 'x-%'") == truth_readings(small_world)


# --- encoding ---------------------------------------------------------------------------------------------------------


def test_a_non_utf8_file_is_quarantined_by_name_and_every_other_file_loads(load, drop, small_world):
    """The old source failed as a whole (UnicodeDecodeError naming no file). Now: one file with a Latin-1 line among
    good ones, one file of binary garbage; the bad lines are quarantined by file:line, everything else loads."""
    device = steady_device(small_world)
    ok = {"reading_id": "enc-ok", "device_id": device, "metric": "steps", "value": 10, "recorded_at": "2026-09-21T08:00:00Z"}
    latin1 = '{"reading_id": "enc-bad", "device_id": "%s", "metric": "Schritte \u00e4", "value": 1}\n' % device
    (drop / "readings" / "2026-09-21-gateway.ndjson").write_bytes(
        json.dumps(ok).encode() + b"\n" + latin1.encode("latin-1") + json.dumps(dict(ok, reading_id="enc-ok-2")).encode() + b"\n"
    )
    (drop / "readings" / "2026-09-22-garbage.ndjson").write_bytes(b"\xff\xfe\x00\x81binary\x9c\n\xc3\x28\n")

    load()
    assert raw_readings(load.warehouse, "reading_id like 'enc-%'") == {
        ("enc-ok", device, "steps", 10.0, epoch_ms(ok["recorded_at"])),
        ("enc-ok-2", device, "steps", 10.0, epoch_ms(ok["recorded_at"])),
    }
    assert raw_readings(load.warehouse, "reading_id not like 'enc-%'") == truth_readings(small_world)
    assert rows(load.warehouse, "select source_position, reason, record_key from iot.readings__quarantine "
                                "where reason = 'not valid UTF-8' order by 1") == [  # fmt: skip
        ("readings/2026-09-21-gateway.ndjson:2", "not valid UTF-8", None),
        ("readings/2026-09-22-garbage.ndjson:1", "not valid UTF-8", None),
        ("readings/2026-09-22-garbage.ndjson:2", "not valid UTF-8", None),
    ]
    # never the line itself
    assert count(load.warehouse, "iot.readings__quarantine", "reason like '%Schritte%' or source_position like '%Schritte%'") == 0


# --- orphans ----------------------------------------------------------------------------------------------------------


def test_readings_of_an_unknown_device_are_held_and_flow_on_when_it_arrives(load, drop, small_world, tmp_path):
    """The old source dropped readings of a device not in the registry, with no trace. Now they land in raw
    (staging hides them), and when the device arrives opted in, staging shows them; a device that arrives NOT opted
    in has its held readings deleted from raw."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    early = [
        {"reading_id": f"new-{dev}-{n}", "device_id": dev, "metric": "steps", "value": 100 + n,
         "recorded_at": iso(now - timedelta(hours=n + 1))}
        for dev in ("dev-new-in", "dev-new-out") for n in range(3)
    ]  # fmt: skip
    # and one reading of dev-new-in recorded before its opt-in: held too, it leaves raw once the device arrives
    too_early = dict(early[0], reading_id="new-in-too-early", recorded_at=iso(now - timedelta(hours=6)))
    write_ndjson(drop / "readings" / "early.ndjson", early + [too_early])
    load()
    assert count(load.warehouse, "iot.readings", "device_id like 'dev-new-%'") == 7
    assert count(load.warehouse, "iot.devices", "device_id like 'dev-new-%'") == 0
    tests = dbt_staging(load.warehouse, tmp_path)  # the warn-severity relationships test reports them; build passes
    assert tests.pop("source_relationships_iot_readings_device_id__device_id__source_iot_devices_") == ("warn", 7)
    assert {status for status, _ in tests.values()} == {"pass"}
    assert count(load.warehouse, "staging.stg_iot__readings", "device_id like 'dev-new-%'") == 0
    assert count(load.warehouse, "staging.stg_iot__readings") == len(truth_readings(small_world))

    registered = iso(now - timedelta(hours=5))  # registered (and opted in) before its first readings
    write_ndjson(drop / "devices" / "20991231T000000Z-late.ndjson", [
        {"device_id": "dev-new-in", "device_type": "wearable", "owner_email": "someone@mail.test", "opted_in": True,
         "registered_at": registered, "updated_at": registered},
        {"device_id": "dev-new-out", "device_type": "wearable", "owner_email": "other@mail.test", "opted_in": False,
         "registered_at": registered, "updated_at": registered},
    ])  # fmt: skip
    write_ndjson(drop / "readings" / "later.ndjson", [
        dict(early[0], reading_id="new-in-later"), dict(early[3], reading_id="new-out-later")
    ])  # fmt: skip
    load()
    held_in = {(r["reading_id"], r["device_id"], "steps", float(r["value"]), epoch_ms(r["recorded_at"])) for r in early[:3]}
    assert raw_readings(load.warehouse, "device_id = 'dev-new-in'") == held_in | {
        ("new-in-later", "dev-new-in", "steps", 100.0, epoch_ms(early[0]["recorded_at"]))
    }
    assert count(load.warehouse, "iot.readings", "device_id = 'dev-new-out'") == 0  # held ones deleted, new never land
    assert count(load.warehouse, "iot.devices", "device_id = 'dev-new-out' and owner_email is null and registered_at is null and not opted_in and device_type = 'wearable'") == 1
    tests = dbt_staging(load.warehouse, tmp_path)
    assert {status for status, _ in tests.values()} == {"pass"}  # no orphan left
    assert count(load.warehouse, "staging.stg_iot__readings", "device_id = 'dev-new-in'") == 4
    assert count(load.warehouse, "staging.stg_iot__readings") == len(truth_readings(small_world)) + 4


# --- the registry cursor ----------------------------------------------------------------------------------------------


def test_a_future_dated_registry_row_is_quarantined_and_an_earlier_opt_out_still_arrives(load, drop, small_world, tmp_path):
    """The old source's cursor jumped to a registry row dated 2099, and every later change (an opt-out too) was
    skipped. Now the 2099 row is quarantined in iot.devices__quarantine and moves nothing; an opt-out dated earlier
    than it lands (in the window: after readings already loaded), and every reading of the device already in raw
    is deleted from raw (dlt hard delete), those recorded before the opt-out too; a reading it sends afterwards
    never lands."""
    devices = small_world.iot["devices"]
    opted_now = small_world.iot_opted_in()
    leaver = next(d for d in devices if d["device_id"] == steady_device(small_world))
    jumper = next(d for d in devices if d["device_id"] in opted_now and d is not leaver)
    load()
    mine = truth_readings(small_world, {leaver["device_id"]})
    assert mine and raw_readings(load.warehouse, f"device_id = '{leaver['device_id']}'") == mine  # before the opt-out
    changed_type = "car" if jumper["device_type"] == "wearable" else "wearable"
    write_ndjson(drop / "devices" / "20260101T000000Z-future.ndjson", [
        dict(jumper, device_type=changed_type, opted_in=True, updated_at="2099-01-01T00:00:00Z")
    ])  # fmt: skip
    info = load()
    assert loaded_rows(info) == {"devices__quarantine": 1}
    assert rows(load.warehouse, "select table_name, record_key, source_position, reason from iot.devices__quarantine") == [
        ("devices", jumper["device_id"], "devices/20260101T000000Z-future.ndjson:1", "updated_at: in the future beyond the tolerance")
    ]
    assert rows(load.warehouse, f"select device_type from iot.devices where device_id = '{jumper['device_id']}'") == [
        (jumper["device_type"],)
    ]

    # The opt-out, in UTC earlier than the 2099 row, written with an offset (text comparison would misorder it).
    opt_out_at = datetime(2026, 9, 25, 12, tzinfo=timezone(timedelta(hours=-5)))
    write_ndjson(drop / "devices" / "20260102T000000Z-optout.ndjson", [
        dict(leaver, opted_in=False, updated_at=opt_out_at.isoformat(timespec="seconds"))
    ])  # fmt: skip
    after = {"reading_id": "sent-after-opt-out", "device_id": leaver["device_id"], "metric": "steps", "value": 5,
             "recorded_at": iso((opt_out_at + timedelta(hours=1)).astimezone(timezone.utc))}  # fmt: skip
    write_ndjson(drop / "readings" / "2026-09-25-after.ndjson", [after])
    info = load()
    # the future row is not quarantined twice; the device's readings go as delete rows
    assert loaded_rows(info) == {"devices": 1, "device_consents": 1, "readings": len(mine)}
    assert count(load.warehouse, "iot.readings", "reading_id = 'sent-after-opt-out'") == 0  # never lands
    assert rows(load.warehouse, f"select opted_in, epoch(changed_at) from iot.device_consents "
                                f"where device_id = '{leaver['device_id']}' order by changed_at") == [
        (True, datetime.fromisoformat(leaver["updated_at"].replace("Z", "+00:00")).timestamp()),
        (False, float(int(opt_out_at.timestamp()))),
    ]  # fmt: skip
    assert rows(load.warehouse, f"select opted_in, owner_email, epoch(updated_at) from iot.devices where device_id = '{leaver['device_id']}'") == [
        (False, None, float(int(opt_out_at.timestamp())))
    ]  # fmt: skip
    dbt_staging(load.warehouse, tmp_path)
    cut = epoch_ms(opt_out_at.isoformat())
    before = {r for r in mine if r[4] < cut}
    assert before and len(before) < len(mine)  # readings on both sides of the opt-out: all of them leave raw
    assert count(load.warehouse, "iot.readings", f"device_id = '{leaver['device_id']}'") == 0
    assert raw_readings(load.warehouse) == truth_readings(small_world) - mine  # the others untouched
    assert count(load.warehouse, "staging.stg_iot__readings", f"device_id = '{leaver['device_id']}'") == 0
    assert count(load.warehouse, "staging.stg_iot__readings") == len(truth_readings(small_world)) - len(mine)
    assert count(load.warehouse, "pii.stg_iot__devices", "not opted_in") == len(devices) - len(opted_now) + 1

    # The change file deleted from the drop: the older registry row left never rolls the device back.
    (drop / "devices" / "20260102T000000Z-optout.ndjson").unlink()
    assert loaded_rows(load()) == {}  # nothing deleted twice
    assert count(load.warehouse, "iot.devices", f"device_id = '{leaver['device_id']}' and not opted_in") == 1
    assert count(load.warehouse, "iot.device_consents", f"device_id = '{leaver['device_id']}' and not opted_in") == 1


def test_a_late_statement_withdrawing_in_the_past_deletes_the_readings_of_that_span_from_raw(load, drop, small_world, tmp_path):
    """A change file arrives late with a withdrawal and a renewed opt-in, both dated in the past, after the readings
    of that span were loaded: the device consents now, so its readings stay, except those recorded between the two
    statements, which are deleted from raw (not only hidden by staging); a reload deletes nothing twice."""
    device = steady_device(small_world)
    load()
    mine = sorted(truth_readings(small_world, {device}), key=lambda r: r[4])
    assert len(mine) >= 6 and raw_readings(load.warehouse, f"device_id = '{device}'") == set(mine)
    row = next(d for d in small_world.iot["devices"] if d["device_id"] == device)
    off, on = mine[len(mine) // 3][4], mine[2 * len(mine) // 3][4]  # epoch ms of two readings
    at = lambda ms: iso(datetime.fromtimestamp(ms / 1000, timezone.utc))  # noqa: E731 (whole seconds, UTC)
    write_ndjson(drop / "devices" / "20260103T000000Z-late.ndjson", [
        dict(row, opted_in=False, updated_at=at(off)), dict(row, opted_in=True, updated_at=at(on)),
    ])  # fmt: skip
    off_s, on_s = epoch_ms(at(off).replace("Z", "+00:00")), epoch_ms(at(on).replace("Z", "+00:00"))
    gone = {r for r in mine if off_s <= r[4] < on_s}
    assert gone and len(gone) < len(mine)
    info = load()
    assert loaded_rows(info) == {"devices": 1, "device_consents": 2, "readings": len(gone)}
    assert raw_readings(load.warehouse, f"device_id = '{device}'") == set(mine) - gone
    assert raw_readings(load.warehouse) == truth_readings(small_world) - gone
    dbt_staging(load.warehouse, tmp_path)
    assert count(load.warehouse, "staging.stg_iot__readings", f"device_id = '{device}'") == len(mine) - len(gone)
    assert loaded_rows(load()) == {}


def test_a_file_renamed_into_the_drop_late_is_still_read(load, drop, small_world):
    """Two writers: a file whose modification time is older than the newest file already loaded (inside the lag
    window) is read; a reload reads nothing twice."""
    device = steady_device(small_world)
    load()
    late = drop / "readings" / "zz-late.ndjson"
    write_ndjson(late, [{"reading_id": "late-file", "device_id": device, "metric": "steps", "value": 3,
                         "recorded_at": "2026-09-29T08:00:00Z"}])  # fmt: skip
    past = datetime.now(timezone.utc).timestamp() - 120
    os.utime(late, (past, past))
    info = load()
    assert loaded_rows(info) == {"readings": 1}
    assert count(load.warehouse, "iot.readings", "reading_id = 'late-file'") == 1
    assert loaded_rows(load()) == {}
