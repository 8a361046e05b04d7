"""The MQTT bridge against the real Mosquitto on 127.0.0.1:1883: devices publish, the bridge writes the drop, the IoT
source loads it. Every test has its own topic prefix and client id, and removes its broker session afterwards."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import dlt
import duckdb
import paho.mqtt.client as mqtt
import pytest

from ingestion import iot_bridge
from ingestion.sources import iot_source

from .conftest import loaded_rows

REPO = Path(__file__).resolve().parent.parent
HOST, PORT = "127.0.0.1", 1883


def broker_up() -> bool:
    import socket

    try:
        socket.create_connection((HOST, PORT), timeout=2).close()
        return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not broker_up(), reason="Mosquitto is not running on 127.0.0.1:1883 (.ci/run starts it)")


@pytest.fixture(scope="module")
def world():
    """A world with enough opted-in readings (about 3,000)."""
    from ingestion.demo_world import generate

    return generate(seed=7, people=1000, days=21)


@pytest.fixture()
def names():
    """A topic prefix and a bridge client id of this test only; the persistent session is removed afterwards."""
    tag = uuid.uuid4().hex[:10]
    prefix, client_id = f"jw-test/{tag}/iot", f"jw-test-bridge-{tag}"
    yield prefix, client_id
    connected = threading.Event()
    cleaner = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    cleaner.on_connect = lambda *args: connected.set()
    cleaner.connect(HOST, PORT)
    cleaner.loop_start()
    connected.wait(10)
    cleaner.disconnect()
    cleaner.loop_stop()


def drop_lines(drop: Path, folder: str) -> list[dict]:
    out = []
    for path in sorted((drop / folder).glob("*.ndjson")):
        out.extend(json.loads(line) for line in path.read_text().splitlines() if line.strip())
    return out


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def count_rows(warehouse: Path, table: str) -> int:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(f"select count(*) from {table}").fetchone()[0]


def load_drop(drop: Path, tmp_path: Path) -> tuple[Path, object]:
    warehouse = tmp_path / "warehouse.duckdb"
    pipeline = dlt.pipeline(
        pipeline_name="iot_bridge",  # one per test (tmp_path): a second load is incremental
        destination=dlt.destinations.duckdb(str(warehouse)),
        dataset_name="iot",
        pipelines_dir=str(tmp_path / "dlt"),
    )
    info = pipeline.run(iot_source(bucket_url=drop.as_uri()), loader_file_format="parquet")
    assert not info.has_failed_jobs
    return warehouse, info


def warehouse_readings(warehouse: Path) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute("select reading_id, device_id, metric, value, epoch_ms(recorded_at) from iot.readings").fetchall()


def as_rows(readings: list[dict]) -> list[tuple]:
    from datetime import datetime

    return [
        (r["reading_id"], r["device_id"], r["metric"], float(r["value"]),
         int(datetime.fromisoformat(r["recorded_at"]).timestamp() * 1000))
        for r in readings
    ]  # fmt: skip


def world_slice(world, n: int) -> tuple[list[dict], list[dict]]:
    """The registry of the world's devices and the first ``n`` readings of opted-in devices."""
    opted = {d["device_id"] for d in world.iot["devices"] if d["opted_in"]}
    readings = [r for r in world.iot["readings"] if r["device_id"] in opted][:n]
    assert len(readings) == n
    return world.iot["devices"], readings


def test_published_readings_land_exactly_once(names, world, tmp_path):
    """Registry rows and 1,200 readings published over MQTT; the bridge (in-process, stopped by an Event) writes
    the drop; the IoT source loads exactly the 1,200 readings, row for row, and the registry from the change files."""
    prefix, client_id = names
    drop = tmp_path / "drop"
    devices, readings = world_slice(world, 1200)
    stop, ready = threading.Event(), threading.Event()
    result: dict = {}
    bridge = threading.Thread(
        target=lambda: result.update(written=iot_bridge.run(
            host=HOST, port=PORT, topic=f"{prefix}/#", drop_dir=drop, client_id=client_id,
            stop=stop, ready=ready, rotate_every=500, rotate_seconds=0.5,
        ))
    )  # fmt: skip
    bridge.start()
    try:
        assert ready.wait(15), "bridge never subscribed"
        assert iot_bridge.publish(devices, HOST, PORT, prefix) == len(devices)
        assert iot_bridge.publish(readings, HOST, PORT, prefix) == 1200
        wait_for(lambda: len(drop_lines(drop, "readings")) >= 1200, 30, "1,200 readings in the drop")
    finally:
        stop.set()
        bridge.join(15)
    assert result["written"] == {"readings": 1200, "registry": len(devices)}
    assert not list((drop / ".bridge").rglob("*.spool"))  # everything rotated into the drop on a clean stop
    assert all(p.read_bytes().endswith(b"\n") for p in (drop / "readings").glob("*.ndjson"))
    assert len(list((drop / "readings").glob("*.ndjson"))) >= 3  # rotated every 500 messages

    warehouse, _ = load_drop(drop, tmp_path)
    assert sorted(warehouse_readings(warehouse)) == sorted(as_rows(readings))
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*), count(*) filter (where opted_in) from iot.devices").fetchone() == (
            len(devices), sum(d["opted_in"] for d in devices)
        )


def start_bridge(drop: Path, prefix: str, client_id: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingestion.iot_bridge", "--host", HOST, "--port", str(PORT), "--topic", f"{prefix}/#",
         "--drop-dir", str(drop), "--client-id", client_id, "--rotate-every", "40", "--rotate-seconds", "0.3"],
        cwd=REPO, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    for line in proc.stderr:  # wait until subscribed (the session exists from then on)
        if "subscribed to" in line:
            break
    else:
        raise AssertionError(f"bridge exited with {proc.wait()} before subscribing")
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()  # keep draining its log
    return proc


def test_a_bridge_killed_mid_stream_loses_nothing_and_duplicates_nothing(names, world, tmp_path):
    """1,500 readings published at a steady pace; the bridge is killed with SIGKILL twice while they flow (once
    while messages arrive, once again right after its restart) and restarted each time; the broker keeps the
    messages for the persistent session meanwhile. Every reading reaches the drop (some twice: redelivered after the
    kill), and the warehouse holds each exactly once, row for row."""
    prefix, client_id = names
    drop = tmp_path / "drop"
    devices, readings = world_slice(world, 1500)
    bridge = start_bridge(drop, prefix, client_id)
    iot_bridge.publish(devices, HOST, PORT, prefix)

    published = threading.Event()

    def devices_publish():
        for start in range(0, len(readings), 30):
            iot_bridge.publish(readings[start : start + 30], HOST, PORT, prefix)
            time.sleep(0.15)  # ~200 messages a second: a restart (~1-3 s) stays below the broker queue limit (1,000)
        published.set()

    publisher = threading.Thread(target=devices_publish)
    publisher.start()
    kills = []
    try:
        for _ in range(2):
            wait_for(lambda: len(drop_lines(drop, "readings")) >= 200 * (len(kills) + 1), 30, "readings in the drop")
            bridge.send_signal(signal.SIGKILL)
            bridge.wait()
            kills.append(len(drop_lines(drop, "readings")))
            time.sleep(0.3)
            bridge = start_bridge(drop, prefix, client_id)
        publisher.join(60)
        assert published.is_set()
        wait_for(lambda: {r["reading_id"] for r in drop_lines(drop, "readings")} >= {r["reading_id"] for r in readings},
                 60, "every reading in the drop")  # fmt: skip
    finally:
        bridge.send_signal(signal.SIGTERM)
        bridge.wait(15)
        publisher.join(60)
    assert bridge.returncode == 0 and not list((drop / ".bridge").rglob("*.spool"))  # SIGTERM: a clean stop

    assert len(kills) == 2 and kills[0] < len(readings) and kills[1] < len(readings)  # killed while they flowed
    in_drop = drop_lines(drop, "readings")
    assert len(in_drop) >= len(readings)  # redeliveries allowed
    warehouse, _ = load_drop(drop, tmp_path)
    got = warehouse_readings(warehouse)
    assert len(got) == len(set(r[0] for r in got)) == len(readings)
    assert sorted(got) == sorted(as_rows(readings))
    print(f"killed at {kills} readings in the drop; {len(in_drop)} lines in the drop for {len(readings)} readings")


def test_a_spool_left_by_a_crash_is_recovered_at_start_and_a_torn_line_cut(names, tmp_path):
    """A crash can leave a spool with durable (acknowledged) messages and a torn last line whose message was not
    acknowledged. At start the bridge moves the spool into the drop and cuts the torn line."""
    prefix, client_id = names
    drop = tmp_path / "drop"
    spool = drop / ".bridge" / client_id / "readings.spool"
    spool.parent.mkdir(parents=True)
    whole = [{"reading_id": f"r{i}", "device_id": "dev-1", "metric": "steps", "value": i,
              "recorded_at": "2026-09-01T00:00:00Z"} for i in range(3)]  # fmt: skip
    spool.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in whole) + b'{"reading_id": "r3", "dev')
    stop = threading.Event()
    stop.set()  # start, recover, stop
    iot_bridge.run(host=HOST, port=PORT, topic=f"{prefix}/#", drop_dir=drop, client_id=client_id, stop=stop)
    assert not spool.exists()
    assert drop_lines(drop, "readings") == whole


def test_a_payload_that_is_not_json_reaches_the_quarantine_not_the_floor(names, world, tmp_path):
    """A device sending garbage (not JSON, not UTF-8) and a reading without its device id (taken from the topic)."""
    prefix, client_id = names
    drop = tmp_path / "drop"
    device = next(d for d in world.iot["devices"] if d["opted_in"])
    stop, ready = threading.Event(), threading.Event()
    bridge = threading.Thread(target=iot_bridge.run, kwargs=dict(
        host=HOST, port=PORT, topic=f"{prefix}/#", drop_dir=drop, client_id=client_id, stop=stop, ready=ready,
        rotate_seconds=0.2))  # fmt: skip
    bridge.start()
    try:
        assert ready.wait(15)
        iot_bridge.publish([device], HOST, PORT, prefix)
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        pub.connect(HOST, PORT)
        pub.loop_start()
        topic = f"{prefix}/{device['device_id']}/readings"
        pub.publish(topic, b"\xff\xfegarbage\nsecond part", qos=1).wait_for_publish(10)
        pub.publish(topic, json.dumps({"reading_id": "no-dev", "metric": "steps", "value": 5,
                                       "recorded_at": "2026-09-29T00:00:00Z"}), qos=1).wait_for_publish(10)  # fmt: skip
        pub.disconnect()
        pub.loop_stop()
        wait_for(lambda: len(list((drop / "readings").glob("*.ndjson"))) >= 1
                 and sum(p.read_bytes().count(b"\n") for p in (drop / "readings").glob("*.ndjson")) >= 2, 15, "2 lines")
    finally:
        stop.set()
        bridge.join(15)
    warehouse, _ = load_drop(drop, tmp_path)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select reading_id, device_id from iot.readings").fetchall() == [("no-dev", device["device_id"])]
        assert con.execute("select reason from iot.readings__quarantine").fetchall() == [("not valid UTF-8",)]


def test_a_consent_change_published_by_a_device_reaches_the_warehouse(names, world, tmp_path):
    """Registry and readings over MQTT, loaded; then one device opts out over MQTT (a registry change file in the
    drop) and sends one more reading: the opt-out lands (owner data gone), the device's readings already loaded
    are deleted from raw and the new reading never lands."""
    prefix, client_id = names
    drop = tmp_path / "drop"
    devices, readings = world_slice(world, 300)
    leaver = next(d for d in devices if d["opted_in"] and any(r["device_id"] == d["device_id"] for r in readings))
    stop, ready = threading.Event(), threading.Event()
    bridge = threading.Thread(target=iot_bridge.run, kwargs=dict(
        host=HOST, port=PORT, topic=f"{prefix}/#", drop_dir=drop, client_id=client_id, stop=stop, ready=ready,
        rotate_seconds=0.2))  # fmt: skip
    bridge.start()
    try:
        assert ready.wait(15)
        iot_bridge.publish(devices + readings, HOST, PORT, prefix)
        wait_for(lambda: len(drop_lines(drop, "readings")) >= 300, 30, "300 readings")
        warehouse, _ = load_drop(drop, tmp_path)
        assert count_rows(warehouse, "iot.readings") == 300
        with duckdb.connect(str(warehouse), read_only=True) as con:
            (landed,) = con.execute("select count(*) from iot.readings where device_id = ?", [leaver["device_id"]]).fetchone()
        assert landed > 0
        from datetime import datetime, timezone

        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        iot_bridge.publish([dict(leaver, opted_in=False, updated_at=now)], HOST, PORT, prefix)
        extra = dict(readings[0], reading_id="after-opt-out", device_id=leaver["device_id"], recorded_at=now)
        iot_bridge.publish([extra], HOST, PORT, prefix)
        wait_for(lambda: any(r.get("reading_id") == "after-opt-out" for r in drop_lines(drop, "readings")), 15, "it")
    finally:
        stop.set()
        bridge.join(15)
    warehouse, info = load_drop(drop, tmp_path)
    # incremental: the change only (the device's state, its consent statement, a delete row per landed reading)
    assert loaded_rows(info) == {"devices": 1, "device_consents": 1, "readings": landed}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select opted_in, owner_email from iot.devices where device_id = ?", [leaver["device_id"]]).fetchall() == [
            (False, None)
        ]  # fmt: skip
        assert con.execute("select count(*) from iot.readings where reading_id = 'after-opt-out'").fetchone() == (0,)
        assert con.execute("select count(*) from iot.readings where device_id = ?", [leaver["device_id"]]).fetchone() == (0,)
        assert con.execute("select count(*) from iot.readings").fetchone() == (300 - landed,)
