"""MQTT -> IoT drop folder: devices publish to the broker, this bridge writes NDJSON drop files the IoT source reads.

Topics: ``<prefix>/<device_id>/readings`` (one reading per message, JSON) and ``<prefix>/<device_id>/registry`` (one
registry row per message: consent changes, new devices). The bridge subscribes to ``topic`` (a filter, default
``journey/iot/#``) with QoS 1 under a fixed client id and a persistent session (MQTT 5, ``clean_start=False`` and a
session expiry of ``session_expiry`` seconds): while the bridge is down, the broker keeps the messages for it. The
session exists from the bridge's first connection on: start the bridge once before devices publish.

Broker settings this relies on (Mosquitto): ``persistence true`` (sessions survive a broker restart), and
``max_queued_messages`` large enough for what arrives while the bridge is down: Mosquitto's default is 1000 per
client, and beyond it the broker drops messages it has already acknowledged to the device (it logs "Outgoing
messages are being dropped"); no client can see that. Set it to 0 (no limit) or to a bound on the outage you accept.
While connected, the bridge lets the broker have up to 65535 messages in flight to it (MQTT 5 receive maximum), so a
burst faster than the bridge writes is not queued into that limit.

Nothing acknowledged is ever lost: ``on_message`` appends the message to a spool file and fsyncs it before it returns
(paho acknowledges a QoS 1 message only after ``on_message`` returns). Every ``rotate_every`` messages or
``rotate_seconds`` seconds the spool is renamed into the drop folder (same filesystem: atomic) and the folder is
fsynced; at start a spool left by a crash is moved into the drop first (a torn last line, from a crash in the middle
of a write, is cut: its message was not acknowledged and comes again). A message redelivered after a crash between
the fsync and the acknowledgement is written twice; ``reading_id`` is the warehouse's merge key, so it lands once.

Layout written (what ``ingestion.sources.iot`` reads)::

    <drop>/readings/<utc ts>-<client id>-<n>.ndjson
    <drop>/devices/<utc ts>-<client id>-<n>.ndjson      registry change files; the source takes the newest row per device
    <drop>/.bridge/<client id>/{readings,devices}.spool  the spools (outside the globs the source reads)

No Dagster here: ``journey iot-bridge`` calls :func:`run`. ``python -m ingestion.iot_bridge`` runs it too.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 1883
DEFAULT_PREFIX = "journey/iot"
DEFAULT_TOPIC = DEFAULT_PREFIX + "/#"
DEFAULT_CLIENT_ID = "journey-iot-bridge"
SESSION_EXPIRY = 7 * 24 * 3600  # seconds the broker keeps the session (and queues for us) while the bridge is down
KINDS = {"readings": "readings", "registry": "devices"}  # last topic level -> drop sub-folder


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


class Spool:
    """An append-only spool file per kind, fsynced per message, renamed into the drop folder when rotated."""

    def __init__(self, drop_dir: Path, client_id: str, folder: str):
        self.drop_dir = drop_dir
        self.client = _safe(client_id)
        self.folder = folder
        self.target = drop_dir / folder
        self.path = drop_dir / ".bridge" / self.client / f"{folder}.spool"
        self.target.mkdir(parents=True, exist_ok=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd: int | None = None
        self.count = 0
        self.opened_at = 0.0
        self.serial = 0
        self.recover()

    def recover(self) -> None:
        """A spool left by a crash: cut a torn last line, then move it into the drop."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        cut = data.rfind(b"\n") + 1
        if cut < len(data):
            with open(self.path, "r+b") as f:
                f.truncate(cut)
                f.flush()
                os.fsync(f.fileno())
        if cut:
            self.count = data.count(b"\n", 0, cut)
            log.info("recovered a spool of %d %s messages", self.count, self.folder)
            self.rotate()
        else:
            self.path.unlink()

    def append(self, line: bytes) -> None:
        if self.fd is None:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            self.opened_at = time.monotonic()
        os.write(self.fd, line)
        os.fsync(self.fd)
        self.count += 1

    def due(self, every: int, seconds: float) -> bool:
        return self.count > 0 and (self.count >= every or time.monotonic() - self.opened_at >= seconds)

    def rotate(self) -> Path | None:
        """Move the spool into the drop folder (atomic rename, then the folders are fsynced)."""
        if self.fd is not None:
            os.fsync(self.fd)
            os.close(self.fd)
            self.fd = None
        if self.count == 0 or not self.path.exists():
            return None
        self.serial += 1
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        final = self.target / f"{stamp}-{self.client}-{os.getpid()}-{self.serial}.ndjson"
        os.utime(self.path)  # the file's time is when it arrived in the drop (the source's file cursor reads it)
        os.rename(self.path, final)
        _fsync_dir(self.target)
        _fsync_dir(self.path.parent)
        self.count = 0
        return final

    def close(self) -> None:
        self.rotate()


def _line(payload: bytes, device_id: str | None) -> bytes:
    """One NDJSON line for one message. A JSON object is written compactly (the device id from the topic filled in
    if the device left it out); anything else is written as it came, on one line, for the source to quarantine."""
    try:
        row = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        row = None
    if isinstance(row, dict):
        if device_id and row.get("device_id") is None:
            row["device_id"] = device_id
        return json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
    return payload.replace(b"\r", b" ").replace(b"\n", b" ") + b"\n"


def run(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    topic: str = DEFAULT_TOPIC,
    drop_dir: str | Path = "",
    client_id: str = DEFAULT_CLIENT_ID,
    *,
    stop: threading.Event | None = None,
    ready: threading.Event | None = None,
    rotate_every: int = 1000,
    rotate_seconds: float = 2.0,
    session_expiry: int = SESSION_EXPIRY,
) -> dict[str, int]:
    """Bridge ``topic`` on the broker at ``host:port`` into ``drop_dir`` until interrupted or ``stop`` is set.

    ``ready`` is set once the subscription is acknowledged. Returns the number of messages written per kind.
    """
    if not drop_dir:
        raise ValueError("drop_dir is required: the IoT drop folder the filesystem source reads")
    drop = Path(drop_dir)
    stop = stop or threading.Event()
    spools = {kind: Spool(drop, client_id, folder) for kind, folder in KINDS.items()}
    written = {kind: 0 for kind in KINDS}
    ignored = 0

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    connect_properties = Properties(PacketTypes.CONNECT)
    connect_properties.SessionExpiryInterval = session_expiry
    # The broker may have this many messages in flight to us: with Mosquitto's default of 20, a burst faster than
    # we write goes to the per-client queue (max_queued_messages, 1000 by default) and beyond that is dropped.
    connect_properties.ReceiveMaximum = 65535

    def on_connect(client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        log.info("connected to %s:%s (session present: %s)", host, port, flags.session_present)
        client.subscribe(topic, qos=1)

    def on_subscribe(client, userdata, mid, reason_codes, properties):
        if any(rc.is_failure for rc in reason_codes):
            log.error("subscription to %s refused", topic)
            return
        log.info("subscribed to %s", topic)
        if ready is not None:
            ready.set()

    def on_message(client, userdata, message):
        nonlocal ignored
        levels = message.topic.split("/")
        kind = levels[-1] if levels[-1] in KINDS else None
        if kind is None:
            ignored += 1
            return
        device_id = levels[-2] if len(levels) >= 2 else None
        spools[kind].append(_line(message.payload, device_id))  # durable before paho acknowledges it
        written[kind] += 1

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message

    connected = False
    backoff = 0.5
    try:
        while not stop.is_set():
            if not connected:
                try:
                    client.connect(host, port, keepalive=30, clean_start=False, properties=connect_properties)
                    connected = True
                    backoff = 0.5
                except OSError as e:
                    log.warning("broker %s:%s not reachable (%s); retrying", host, port, type(e).__name__)
                    stop.wait(backoff)
                    backoff = min(backoff * 2, 30)
                    continue
            rc = client.loop(timeout=0.2)
            if rc != mqtt.MQTT_ERR_SUCCESS:
                log.warning("connection lost (%s); reconnecting", mqtt.error_string(rc))
                stop.wait(backoff)
                backoff = min(backoff * 2, 30)
                try:
                    client.reconnect()
                    backoff = 0.5
                except OSError:
                    pass
            for spool in spools.values():
                if spool.due(rotate_every, rotate_seconds):
                    spool.rotate()
    finally:
        for spool in spools.values():
            spool.close()
        try:
            client.disconnect()
        except Exception:  # noqa: BLE001 - already gone
            pass
    if ignored:
        log.info("ignored %d messages on topics that are neither readings nor registry", ignored)
    return written


def _topic_for(record: dict, prefix: str) -> str:
    kind = "readings" if "reading_id" in record else "registry"
    return f"{prefix}/{record['device_id']}/{kind}"


def publish(
    records: Iterable[dict],
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    topic_prefix: str = DEFAULT_PREFIX,
    *,
    client_id: str = "",
    timeout: float = 60.0,
) -> int:
    """Publish records as devices do, QoS 1, one JSON message each, and wait until the broker has them all.

    A record with a ``reading_id`` goes to ``<prefix>/<device_id>/readings``, any other (a registry row) to
    ``<prefix>/<device_id>/registry``. Returns the number of messages published.
    """
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
    client.max_queued_messages_set(0)
    client.max_inflight_messages_set(100)
    client.connect(host, port, keepalive=30)
    client.loop_start()
    try:
        infos = [
            client.publish(_topic_for(r, topic_prefix), json.dumps(r, separators=(",", ":")), qos=1) for r in records
        ]
        deadline = time.monotonic() + timeout
        for info in infos:
            info.wait_for_publish(timeout=max(0.0, deadline - time.monotonic()))
            if not info.is_published():
                raise TimeoutError(f"the broker at {host}:{port} did not acknowledge every message within {timeout} s")
        return len(infos)
    finally:
        client.disconnect()
        client.loop_stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ingestion.iot_bridge", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--topic", default=DEFAULT_TOPIC)
    parser.add_argument("--drop-dir", required=True)
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    parser.add_argument("--rotate-every", type=int, default=1000)
    parser.add_argument("--rotate-seconds", type=float, default=2.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())  # a service manager's stop: rotate the spool, then exit
    try:
        run(args.host, args.port, args.topic, args.drop_dir, args.client_id, stop=stop,
            rotate_every=args.rotate_every, rotate_seconds=args.rotate_seconds)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
