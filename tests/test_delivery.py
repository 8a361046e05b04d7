"""The delivery worker sends each released outbox message once in effect, and nothing it must not.

Real processes and servers throughout: the demo ESP's send API (``ingestion.demo_world.api_server``, with its rate
limit and fault switch), ``journey deliver`` as a subprocess killed with SIGKILL mid-batch, a local HTTP receiver
checking the export webhook's signature, the activation store in SQLite and in PostgreSQL. The serving copy the
worker re-checks consent in is a DuckDB file with ``marts.customer_360``'s consent columns, written here so the
truth of each person's consent is the test's own.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pytest
import requests

from ingestion.config import REPO_ROOT

CAMPAIGN = "cart_abandonment"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PG_URL = "postgresql://postgres@127.0.0.1:5432/h5_delivery_db"


def free_port() -> int:
    """A free port of this test file's range (3500-3599)."""
    for port in range(3500, 3600):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port in 3500-3599")


@pytest.fixture()
def data(tmp_path, monkeypatch) -> Path:
    """A data folder of its own (the activation store's SQLite files go there), no outside destinations."""
    from activation import store

    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("JW_DATA_DIR", str(root))
    for name in ("JW_ACTIVATION_DB_URL", "JW_ESP_API_URL", "JW_ESP_API_TOKEN", "JW_EXPORT_WEBHOOK_URL",
                 "JW_EXPORT_WEBHOOK_SECRET", "JW_AD_PLATFORM_DIR", "JW_SERVING_PATH"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    store.dispose()
    yield root
    store.dispose()


def write_serving(root: Path, consent: dict[str, tuple[bool, bool]]) -> Path:
    """``<root>/serving.duckdb`` with ``marts.customer_360`` (person_id, consent_email_marketing,
    consent_ad_audiences), written next to it and renamed over it as the publisher does."""
    path, temporary = root / "serving.duckdb", root / "serving.duckdb.new"
    temporary.unlink(missing_ok=True)
    with duckdb.connect(str(temporary)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.customer_360 (person_id varchar primary key, "
                    "consent_email_marketing boolean not null, consent_ad_audiences boolean not null)")  # fmt: skip
        con.executemany("insert into marts.customer_360 values (?, ?, ?)", [(p, *c) for p, c in consent.items()])
    os.replace(temporary, path)
    return path


def people(n: int, start: int = 0, campaign: str = CAMPAIGN, holdout: bool = False) -> list[str]:
    """``n`` person ids in (``holdout=True``) or out of the campaign's holdout."""
    from activation.delivery import campaign_share
    from activation.holdout import in_holdout

    share, found, i = campaign_share(campaign), [], start
    while len(found) < n:
        person = f"person_{i:05d}"
        if in_holdout(person, campaign, share) == holdout:
            found.append(person)
        i += 1
    return found


def subscribed_profiles(systems: Path, subscribed: bool = True) -> list[str]:
    profiles = json.loads((systems / "api" / "esp" / "profiles.json").read_text())
    return [p["id"] for p in profiles
            if (p["attributes"]["subscriptions"]["email"]["marketing"]["consent"] == "SUBSCRIBED") == subscribed]  # fmt: skip


def esp_message(token: str, person: str, profile: str, batch: str = "cart_abandonment_batch:run-1") -> dict:
    """An outbox row as the cart-abandonment batch writes it (INTERFACE10: no clear PII in the payload)."""
    return {
        "idempotency_key": f"cart_abandonment:{token}", "destination": "esp", "kind": "cart_abandonment",
        "campaign_id": CAMPAIGN, "person_id": person, "batch_id": batch,
        "payload": {"esp_profile_id": profile, "template": "cart_abandonment", "campaign_id": CAMPAIGN,
                    "properties": {"checkout_token": token, "cart_product_ids": ["prod_2"],
                                   "offers": [{"product_id": "prod_1", "discount_code": f"SAVE10-{token}",
                                               "discount_percent": 10}]}},
    }  # fmt: skip


@contextmanager
def esp_api(systems: Path, faults=0.0, **options):
    """The demo ESP on a port of this file's range; yields its base URL (``.../esp``)."""
    from ingestion.demo_world.api_server import serve

    with serve(systems / "api", port=free_port(), systems=("esp",), faults=faults, options={"esp": options}) as base:
        yield f"{base}/esp"


def esp_headers() -> dict:
    from ingestion.demo_world.api_server import DEMO_TOKENS

    return {"Authorization": f"Klaviyo-API-Key {DEMO_TOKENS['esp']}", "revision": "2024-10-15"}


def receipts_in_file(systems: Path) -> dict[str, int]:
    """Idempotency key -> replays, straight from the ESP's receipts file."""
    path = systems / "api" / "esp" / "receipts.sqlite"
    if not path.exists():
        return {}
    with sqlite3.connect(path, timeout=30) as db:
        try:
            return dict(db.execute("select idempotency_key, replays from receipts").fetchall())
        except sqlite3.OperationalError:  # created, table not yet
            return {}


def receipts_by_api(esp: str, **params) -> list[dict]:
    """Every receipt the ESP lists, following links.next."""
    found, url = [], f"{esp}/api/messages/"
    response = requests.get(url, params={"page[size]": 37, **params}, headers=esp_headers(), timeout=10)
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        found += body["data"]
        if not body["links"]["next"]:
            return found
        response = requests.get(body["links"]["next"], headers=esp_headers(), timeout=10)


def outbox(url: str | None = None) -> list[dict]:
    import sqlalchemy as sa

    from activation import store

    with store.engine(url).connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(store.outbox).order_by(store.outbox.c.message_id))]


def enqueue_released(messages: list[dict], url: str | None = None) -> None:
    from activation import store

    assert store.enqueue(messages, url=url) == len(messages)
    for batch in sorted({m["batch_id"] for m in messages}):
        store.release(batch, url=url)


def worker_env(data: Path, esp: str | None = None, **extra: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "JW_DATA_DIR": str(data), "JW_DELIVERY_LEASE_SECONDS": "3",
           "JW_DELIVERY_BACKOFF_SECONDS": "0.05", "JW_DELIVERY_BACKOFF_CAP_SECONDS": "1", "JW_DELIVERY_POLL_SECONDS": "0.1",
           **extra}  # fmt: skip
    if esp:
        env["JW_ESP_API_URL"] = esp
    return env


def start_worker(data: Path, env: dict, *args: str) -> subprocess.Popen:
    log = open(data / f"worker-{time.monotonic_ns()}.log", "w")
    return subprocess.Popen([sys.executable, "-m", "orchestration.cli", "deliver", *args], env=env, cwd=REPO_ROOT,
                            stdout=log, stderr=subprocess.STDOUT)  # fmt: skip


def wait_for(condition, timeout: float, what: str, every: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


# --- (a) kill -9 mid-batch, restart: every message at the ESP exactly once ------------------------------------------


@pytest.mark.parametrize("fault_rate", [0.0, 0.2], ids=["no-faults", "faults"])
def test_worker_killed_mid_batch_then_restarted_delivers_each_message_exactly_once(data, small_systems, fault_rate):
    from activation import store
    from ingestion.demo_world.api_server import Faults

    n = 200
    persons = people(n)
    profiles = subscribed_profiles(small_systems)
    write_serving(data, {p: (True, True) for p in persons})
    messages = [esp_message(f"chk{i:04d}", persons[i], profiles[i % len(profiles)]) for i in range(n)]
    enqueue_released(messages)
    keys = {m["idempotency_key"] for m in messages}
    faults = Faults(fault_rate, seed=11, kinds=("429", "500", "503", "reset", "truncated"))
    # a rate limit slow enough that the kill lands mid-way (and its 429s pause the worker, Retry-After honoured)
    with esp_api(small_systems, faults=faults, burst=20, per_second=40) as esp:
        env = worker_env(data, esp)
        first = start_worker(data, env, "--follow", "--batch-size", "20", "--max-attempts", "40")
        try:
            wait_for(lambda: len(receipts_in_file(small_systems)) >= 30, 60, "the first receipts")
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        at_kill = len(receipts_in_file(small_systems))
        assert 30 <= at_kill < n, f"the kill must land mid-way ({at_kill} of {n} receipts)"
        settled_at_kill = sum(r["outcome"] is not None for r in outbox())
        assert settled_at_kill < n

        second = start_worker(data, env, "--follow", "--batch-size", "20", "--max-attempts", "40")
        try:
            wait_for(lambda: all(r["outcome"] is not None for r in outbox()), 240, "every message settled", every=0.2)
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(30) == 0
        faults.rate = 0.0  # the reading below is not under test
        listed = receipts_by_api(esp)
        one = receipts_by_api(esp, idempotency_key=messages[7]["idempotency_key"])

    receipts = receipts_in_file(small_systems)
    assert set(receipts) == keys  # zero drops, nothing else
    assert Counter(r["attributes"]["idempotency_key"] for r in listed) == Counter(keys)  # zero duplicates
    assert [r["attributes"]["idempotency_key"] for r in one] == [messages[7]["idempotency_key"]]
    rows = outbox()
    assert Counter(r["outcome"] for r in rows) == {"delivered": n}
    assert all(r["delivered_at"] and r["claimed_by"] is None for r in rows)
    attempts = store.deliveries_of()
    delivered = Counter(a["idempotency_key"] for a in attempts if a["status"] == "delivered")
    assert delivered == Counter(keys)  # each recorded delivered once
    if fault_rate:
        assert Counter(a["status"] for a in attempts)["failed"] >= 10  # faults answered, retried
        assert sum(faults.injected.values()) >= 10
        # a truncated answer came after the receipt was written: the retry with the same key was deduplicated
        if faults.injected["truncated"]:
            assert sum(receipts.values()) >= 1
        assert {a["status_code"] for a in attempts if a["status"] == "failed"} & {500, 503, None}


# --- (b) an unsubscribe between planning and sending; (c) a holdout member ---------------------------------------


def test_consent_erasure_unsubscribe_and_holdout_are_checked_again_at_send_time(data, small_systems):
    from activation import store
    from activation.delivery import Settings, Worker
    from activation.destinations import EspDestination
    from ingestion.demo_world.api_server import DEMO_TOKENS

    sent, unsubscribed_webhook, suppressed, consent_withdrawn, erased, gone = people(6)
    [held_out] = people(1, holdout=True)
    subscribed = subscribed_profiles(small_systems)
    [unsubscribed_at_esp_profile, *_] = subscribed_profiles(small_systems, subscribed=False)
    at_esp = people(1, start=5000)[0]
    planned = [sent, unsubscribed_webhook, suppressed, consent_withdrawn, erased, gone, held_out, at_esp]
    write_serving(data, {p: (True, True) for p in planned})  # at planning time: everyone consented
    profile = {p: subscribed[i] for i, p in enumerate(planned)}
    profile[at_esp] = unsubscribed_at_esp_profile
    messages = {p: esp_message(f"tok-{p}", p, profile[p]) for p in planned}
    enqueue_released(list(messages.values()))

    # between planning and sending: an unsubscribe webhook from the ESP, a suppression, consent withdrawn in the
    # new serving copy, an erasure, a person gone from the copy
    store.append_webhook({"webhook_id": "esp-evt-1", "source": "esp", "topic": "profile.unsubscribed",
                          "subject_id": profile[unsubscribed_webhook], "customer_ref": profile[unsubscribed_webhook],
                          "triggered_at": store.now(), "payload": {"profile_id": profile[unsubscribed_webhook]}})  # fmt: skip
    store.suppress(suppressed, "email_marketing", "unsubscribed")
    store.suppress(erased, "all", "erased")
    write_serving(data, {p: (p != consent_withdrawn, True) for p in planned if p != gone})

    with esp_api(small_systems) as esp:
        worker = Worker({"esp": EspDestination(esp, DEMO_TOKENS["esp"])}, Settings(batch_size=3))
        tally = worker.run_once()
        by_key = {r["attributes"]["idempotency_key"] for r in receipts_by_api(esp)}

    assert tally.delivered == 1 and tally.suppressed == 7, tally
    assert by_key == {messages[sent]["idempotency_key"]}  # nothing else reached the ESP
    outcome = {r["person_id"]: r["outcome"] for r in outbox()}
    assert outcome == {**{p: "suppressed" for p in planned}, sent: "delivered"}
    reasons = {a["idempotency_key"]: (a["status"], a["detail"]) for a in store.deliveries_of()}
    expected = {unsubscribed_webhook: "unsubscribed", suppressed: "suppressed", consent_withdrawn: "no_consent",
                erased: "suppressed", gone: "not_in_serving_copy", held_out: "holdout", at_esp: "unsubscribed_at_esp"}  # fmt: skip
    for person, reason in expected.items():
        assert reasons[messages[person]["idempotency_key"]] == ("suppressed", reason), person
    # an unsubscribe received before the message and before the copy was published is the copy's business
    old = people(1, start=6000)[0]
    store.append_webhook({"webhook_id": "esp-evt-0", "source": "esp", "topic": "profile.unsubscribed",
                          "customer_ref": subscribed[40], "received_at": store.now(), "payload": {}})  # fmt: skip
    time.sleep(0.05)
    write_serving(data, {old: (True, True)})
    enqueue_released([esp_message("tok-old", old, subscribed[40], batch="b2")])
    from activation.delivery import suppression_reasons

    claimed = store.claim("probe", 10, 30)
    assert suppression_reasons(claimed) == {}  # resubscribed since, as the newer copy says: not suppressed


def test_the_worker_without_a_serving_copy_sends_nothing_and_loses_nothing(data, small_systems):
    from activation.delivery import NoServingCopy, Settings, Worker
    from activation.destinations import EspDestination
    from ingestion.demo_world.api_server import DEMO_TOKENS

    [person] = people(1)
    enqueue_released([esp_message("tok-x", person, subscribed_profiles(small_systems)[0])])
    with esp_api(small_systems) as esp:
        worker = Worker({"esp": EspDestination(esp, DEMO_TOKENS["esp"])}, Settings())
        with pytest.raises(NoServingCopy):
            worker.run_once()
        assert receipts_by_api(esp) == []
        write_serving(data, {person: (True, True)})
        assert worker.run_once().delivered == 1  # the claim was let go at once


# --- the ESP's send API itself ------------------------------------------------------------------------------------


def test_esp_send_api_needs_a_key_deduplicates_and_keeps_receipts_across_restarts(small_systems):
    subscribed = subscribed_profiles(small_systems)
    body = {"data": {"type": "message", "attributes": {"profile_id": subscribed[0], "template": "t", "properties": {"x": 1}}}}
    url = "/api/messages/"
    with esp_api(small_systems) as esp:
        assert requests.post(esp + url, json=body, headers=esp_headers(), timeout=10).status_code == 400
        assert requests.post(esp + url, json=body, headers={"Idempotency-Key": "k"}, timeout=10).status_code == 401
        first = requests.post(esp + url, json=body, headers={**esp_headers(), "Idempotency-Key": "k1"}, timeout=10)
        again = requests.post(esp + url, json=body, headers={**esp_headers(), "Idempotency-Key": "k1"}, timeout=10)
        other = dict(body, data={**body["data"], "attributes": {**body["data"]["attributes"], "template": "u"}})
        reused = requests.post(esp + url, json=other, headers={**esp_headers(), "Idempotency-Key": "k1"}, timeout=10)
        unsubscribed = subscribed_profiles(small_systems, subscribed=False)[0]
        refused = requests.post(esp + url, headers={**esp_headers(), "Idempotency-Key": "k2"}, timeout=10,
                                json={"data": {"type": "message", "attributes": {"profile_id": unsubscribed, "template": "t"}}})  # fmt: skip
        unknown = requests.post(esp + url, headers={**esp_headers(), "Idempotency-Key": "k3"}, timeout=10,
                                json={"data": {"type": "message", "attributes": {"profile_id": "nobody", "template": "t"}}})  # fmt: skip
    assert first.status_code == 202 and again.status_code == 200
    receipt = first.json()["data"]
    assert set(receipt["attributes"]) >= {"idempotency_key", "received_at"} and receipt["id"].startswith("msg_")
    assert again.json()["data"]["id"] == receipt["id"]
    assert again.json()["data"]["attributes"]["received_at"] == receipt["attributes"]["received_at"]
    assert reused.status_code == 409 and refused.status_code == 422 and unknown.status_code == 404
    with esp_api(small_systems) as esp:  # a new server process's view: the receipts file
        listed = receipts_by_api(esp)
        third = requests.post(esp + url, json=body, headers={**esp_headers(), "Idempotency-Key": "k1"}, timeout=10)
    assert [r["id"] for r in listed] == [receipt["id"]]
    assert third.status_code == 200 and third.json()["data"]["id"] == receipt["id"]
    assert third.json()["data"]["attributes"]["replays"] == 2


# --- (d) ad audiences: hashes only, redelivery rewrites the same file ---------------------------------------------


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_ad_audience_csv_holds_only_hashes_and_redelivery_adds_no_rows(data, monkeypatch):
    from activation import store
    from activation.delivery import Settings, Worker
    from activation.destinations import AdAudienceDestination

    folder = data / "ad_platform"
    monkeypatch.setenv("JW_AD_PLATFORM_DIR", str(folder))
    persons = people(30, campaign="")
    consent = {p: (True, i % 10 != 3) for i, p in enumerate(persons)}  # every tenth withdrew ad consent
    write_serving(data, consent)
    emails = {p: f"  {p.upper()}@Example.TEST " for p in persons}  # as a source might hold them
    messages = [{
        "idempotency_key": f"audience:at_risk_high_value:{p}:2026-12-02", "destination": "ad_audience",
        "kind": "audience", "campaign_id": None, "person_id": p, "batch_id": "ad_audience_batch:run-7",
        "payload": {"audience": "at_risk_high_value", "email_sha256": _sha(emails[p].strip().lower()),
                    "phone_sha256": _sha(f"+4915{i:08d}") if i % 2 else None},
    } for i, p in enumerate(persons)]  # fmt: skip
    clear = people(1, start=9000, campaign="")[0]
    write_serving(data, {**consent, clear: (True, True)})
    messages.append({**messages[0], "idempotency_key": f"audience:at_risk_high_value:{clear}:2026-12-02", "person_id": clear,
                     "payload": {"audience": "at_risk_high_value", "email_sha256": "someone@example.test", "phone_sha256": None}})  # fmt: skip
    enqueue_released(messages)

    worker = Worker({"ad_audience": AdAudienceDestination(folder)}, Settings(batch_size=7))  # a file merged over passes
    tally = worker.run_once()
    [path] = list(folder.rglob("*.csv"))
    first = path.read_bytes()
    lines = first.decode().splitlines()
    consented = [m for m in messages[:-1] if consent[m["person_id"]][1]]
    assert lines[0] == "Email,Phone"
    assert tally.delivered == len(consented) and tally.suppressed == 3 and tally.failed == 1
    assert len(lines) - 1 == len(consented) == len(set(lines[1:]))
    for line in lines[1:]:
        email, phone = line.split(",")
        assert len(email) == 64 and all(c in "0123456789abcdef" for c in email + phone)
        assert phone == "" or len(phone) == 64
    assert b"@" not in first and b"example" not in first.lower()
    assert {line.split(",")[0] for line in lines[1:]} == {m["payload"]["email_sha256"] for m in consented}
    failed = [r for r in outbox() if r["outcome"] == "failed"]
    assert [r["person_id"] for r in failed] == [clear]
    assert "example" not in json.dumps(store.deliveries_of(), default=str)  # no clear value in a detail either

    # the worker dies after writing, before recording: every message is due again and goes again
    with store.engine().begin() as conn:
        conn.execute(store.outbox.update().where(store.outbox.c.outcome == "delivered").values(outcome=None, delivered_at=None))
    assert worker.run_once().delivered == len(consented)
    assert path.read_bytes() == first  # the same file, no duplicate rows
    assert list(folder.rglob("*.csv")) == [path] and not list(folder.rglob("*.tmp"))


# --- (e) the signed export webhook ----------------------------------------------------------------------------


@contextmanager
def webhook_receiver(secret: bytes):
    """A receiver that checks ``X-Journey-Signature``, fails each key's first request (503) and keeps each key's
    message once."""
    state = {"accepted": {}, "requests": Counter(), "bad_signatures": 0}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
            key = self.headers.get("Idempotency-Key", "")
            with lock:
                if not hmac.compare_digest(self.headers.get("X-Journey-Signature", ""), expected):
                    state["bad_signatures"] += 1
                    status = 401
                else:
                    state["requests"][key] += 1
                    status = 503 if state["requests"][key] == 1 else 200
                    if status == 200:
                        state["accepted"].setdefault(key, json.loads(body))
            payload = json.dumps({"ok": status == 200}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/journey", state
    finally:
        server.shutdown()
        server.server_close()


def test_webhook_destination_signs_each_message_and_retries_with_the_same_key(data, monkeypatch):
    from contextlib import ExitStack

    from activation.delivery import Settings, Worker
    from activation.destinations import open_destinations

    persons = people(12)
    write_serving(data, {p: (True, True) for p in persons})
    messages = [{**esp_message(f"wh{i}", p, f"prof_{i}", batch="webhook_batch:run-1"), "destination": "webhook",
                 "idempotency_key": f"campaign:{CAMPAIGN}:{p}:2026-W49"} for i, p in enumerate(persons)]  # fmt: skip
    enqueue_released(messages)
    with ExitStack() as stack:
        ready, missing = open_destinations(stack, names=("webhook",))
        assert ready == {} and "JW_EXPORT_WEBHOOK_URL" in missing["webhook"]  # not configured: its messages wait
    assert {r["outcome"] for r in outbox()} == {None}

    secret = "s3cret-for-tests"
    with webhook_receiver(secret.encode()) as (url, state), ExitStack() as stack:
        monkeypatch.setenv("JW_EXPORT_WEBHOOK_URL", url)
        monkeypatch.setenv("JW_EXPORT_WEBHOOK_SECRET", secret)
        ready, _ = open_destinations(stack, names=("webhook",))
        worker = Worker(ready, Settings(batch_size=5, backoff_seconds=0.01, backoff_cap_seconds=0.05))
        wait_for(lambda: worker.run_once() is not None and all(r["outcome"] for r in outbox()), 30, "all settled", every=0.05)
        assert state["bad_signatures"] == 0
        assert sorted(state["accepted"]) == sorted(m["idempotency_key"] for m in messages)
        assert all(n == 2 for n in state["requests"].values())  # a 503 first, then the same key again
        assert state["accepted"][messages[0]["idempotency_key"]]["payload"] == messages[0]["payload"]

        monkeypatch.setenv("JW_EXPORT_WEBHOOK_SECRET", "not-the-receivers")
        forged, _ = open_destinations(stack, names=("webhook",))
        enqueue_released([{**messages[0], "idempotency_key": "campaign:x:forged", "batch_id": "webhook_batch:run-2"}])
        Worker(forged, Settings()).run_once()
        assert state["bad_signatures"] == 1 and "campaign:x:forged" not in state["accepted"]
    assert {r["idempotency_key"]: r["outcome"] for r in outbox()}["campaign:x:forged"] == "failed"  # 401: permanent


# --- (f) claims in SQLite and PostgreSQL: two workers never take the same message ---------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, data):
    """None (SQLite files in the data folder) or a PostgreSQL database of this file's own, emptied."""
    if request.param == "sqlite":
        return None
    import psycopg2

    try:
        admin = psycopg2.connect(PG_ADMIN, connect_timeout=3)
    except psycopg2.OperationalError as error:
        pytest.skip(f"no PostgreSQL on 127.0.0.1:5432 ({error})")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("select 1 from pg_database where datname = 'h5_delivery_db'")
        if not cur.fetchone():
            cur.execute("create database h5_delivery_db")
    admin.close()
    with psycopg2.connect(PG_URL) as con, con.cursor() as cur:
        cur.execute("drop schema if exists inbox cascade; drop schema if exists exports cascade")
    return PG_URL


def test_two_workers_claim_disjoint_messages_and_leases_expire(store_url):
    from activation import store

    persons = people(400)
    enqueue_released([esp_message(f"c{i}", p, "prof") for i, p in enumerate(persons)], url=store_url)
    claimed: dict[str, list[int]] = {"a": [], "b": []}
    start = threading.Barrier(2)

    def claim_all(name: str) -> None:
        start.wait()
        while batch := store.claim(name, 25, 60, url=store_url):
            claimed[name] += [m["message_id"] for m in batch]
            time.sleep(0.01)  # sending them: the other worker claims meanwhile

    threads = [threading.Thread(target=claim_all, args=(n,)) for n in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not set(claimed["a"]) & set(claimed["b"])
    assert sorted(claimed["a"] + claimed["b"]) == [r["message_id"] for r in outbox(store_url)]
    assert claimed["a"] and claimed["b"]  # both worked

    # a dead worker's lease runs out, then its messages are claimed again; a live lease is respected
    enqueue_released([esp_message("lease", "person_lease", "prof", batch="b-lease")], url=store_url)
    assert [m["idempotency_key"] for m in store.claim("dead", 10, 0.5, url=store_url)] == ["cart_abandonment:lease"]
    assert store.claim("other", 10, 60, url=store_url) == []
    time.sleep(0.6)
    assert [m["idempotency_key"] for m in store.claim("other", 10, 60, url=store_url)] == ["cart_abandonment:lease"]


def test_two_workers_at_once_send_each_message_once(store_url, data, small_systems):
    from activation import store
    from activation.delivery import Settings, Worker
    from activation.destinations import EspDestination
    from ingestion.demo_world.api_server import DEMO_TOKENS

    persons = people(150)
    profiles = subscribed_profiles(small_systems)
    write_serving(data, {p: (True, True) for p in persons})
    messages = [esp_message(f"two{i}", p, profiles[i % len(profiles)]) for i, p in enumerate(persons)]
    enqueue_released(messages, url=store_url)
    with esp_api(small_systems) as esp:
        workers = [Worker({"esp": EspDestination(esp, DEMO_TOKENS["esp"])}, Settings(batch_size=10), url=store_url,
                          name=f"w{i}") for i in range(2)]  # fmt: skip
        tallies = [None, None]
        start = threading.Barrier(2)

        def run(i: int) -> None:
            start.wait()
            tallies[i] = workers[i].run_once()

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    receipts = receipts_in_file(small_systems)
    assert set(receipts) == {m["idempotency_key"] for m in messages}
    assert sum(receipts.values()) == 0  # no message was sent twice: not even a deduplicated replay
    assert tallies[0].delivered + tallies[1].delivered == len(messages) and min(t.delivered for t in tallies) > 0
    attempts = store.deliveries_of(url=store_url)
    assert Counter(a["status"] for a in attempts) == {"delivered": len(messages)}
    assert all(r["outcome"] == "delivered" for r in outbox(store_url))


def test_a_throttled_destination_is_paused_not_hammered_and_every_message_still_goes(data, small_systems):
    from activation import store
    from activation.delivery import Settings, Tally, Worker
    from activation.destinations import EspDestination
    from ingestion.demo_world.api_server import DEMO_TOKENS

    persons = people(12)
    profiles = subscribed_profiles(small_systems)
    write_serving(data, {p: (True, True) for p in persons})
    messages = [esp_message(f"rl{i}", p, profiles[i]) for i, p in enumerate(persons)]
    enqueue_released(messages)
    total = Tally()
    with esp_api(small_systems, burst=3, per_second=4) as esp:
        worker = Worker({"esp": EspDestination(esp, DEMO_TOKENS["esp"])}, Settings(batch_size=12, max_attempts=3))

        def settled() -> bool:
            total.add(worker.run_once())
            return all(r["outcome"] for r in outbox())

        wait_for(settled, 60, "every message settled", every=0.1)
    throttled = [a for a in store.deliveries_of() if a["status_code"] == 429]
    assert throttled and total.deferred >= 1  # after a 429 the rest of the batch waited instead of being refused
    assert len(throttled) < len(messages)  # one 429 per pause, not one per message
    assert Counter(r["outcome"] for r in outbox()) == {"delivered": len(messages)}
    assert sum(receipts_in_file(small_systems).values()) == 0


def test_a_crash_after_the_esp_accepted_and_before_the_record_is_recovered_by_the_key(data, small_systems):
    from activation import store
    from activation.delivery import Settings, Worker
    from activation.destinations import EspDestination
    from ingestion.demo_world.api_server import DEMO_TOKENS

    persons = people(5)
    profiles = subscribed_profiles(small_systems)
    write_serving(data, {p: (True, True) for p in persons})
    messages = [esp_message(f"cr{i}", p, profiles[i]) for i, p in enumerate(persons)]
    enqueue_released(messages)
    with esp_api(small_systems) as esp:
        destination = EspDestination(esp, DEMO_TOKENS["esp"])
        claimed = store.claim("about-to-die", 10, 0.3)
        first = destination.deliver(claimed[:3])  # accepted by the ESP ... and the worker dies before recording
        assert [r.status_code for r in first] == [202, 202, 202]
        time.sleep(0.4)  # its lease runs out
        tally = Worker({"esp": destination}, Settings()).run_once()
    assert tally.delivered == 5
    receipts = receipts_in_file(small_systems)
    assert set(receipts) == {m["idempotency_key"] for m in messages}
    assert sorted(receipts.values()) == [0, 0, 1, 1, 1]  # the three sent again were deduplicated, not sent twice
    details = {a["idempotency_key"]: a["detail"] for a in store.deliveries_of()}
    assert sum("deduplicated" in d for d in details.values()) == 3


def test_deliver_once_serves_the_demo_esp_itself_when_no_url_is_set(data, small_systems):
    import shutil

    shutil.copytree(small_systems, data / "source_systems")
    persons = people(6)
    profiles = subscribed_profiles(small_systems)
    write_serving(data, {p: (True, p != persons[0]) for p in persons})
    enqueue_released([esp_message(f"once{i}", p, profiles[i]) for i, p in enumerate(persons)])
    write_serving(data, {p: (p != persons[0], True) for p in persons})  # the first withdrew since
    env = worker_env(data)
    env.pop("JW_ESP_API_URL", None)
    done = subprocess.run([sys.executable, "-m", "orchestration.cli", "deliver", "--once"], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "done: delivered 5, suppressed 1, failed 0" in done.stdout
    assert "destination webhook not available (JW_EXPORT_WEBHOOK_URL is not set)" in done.stdout
    assert len(receipts_in_file(data / "source_systems")) == 5  # kept in the demo ESP's snapshot folder
    assert receipts_in_file(small_systems) == {}
