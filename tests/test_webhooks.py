"""The webhook receiver (``activation.webhooks``) served by a real uvicorn on a free port, fed by the demo shop's
and ESP's senders (``ingestion.demo_world.webhooks``), writing to a real store: the SQLite files of a fresh data
folder, and a PostgreSQL database of the test's own on 127.0.0.1:5432.

Done-when criterion of issue 10: a forged webhook signature is rejected and nothing is enqueued.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import psycopg2
import pytest
import requests
import sqlalchemy as sa

from activation import store
from activation.webhooks import DEMO_ESP_SECRET, DEMO_SHOP_SECRET, create_app, serve
from ingestion.config import REPO_ROOT
from ingestion.demo_world import webhooks as sender
from ingestion.demo_world.generator import PRODUCT_ID_BASE

ADMIN = os.environ.get("JW_TEST_POSTGRES_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
EMAIL = "Erika.Mustermann77@example.org"
CART = [{"product_id": "prod-007", "quantity": 2, "price": 19.9}, {"product_id": PRODUCT_ID_BASE + 12, "quantity": 1, "price": 45}]


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path, monkeypatch):
    """None (SQLite files in a fresh data folder) or the URL of a fresh PostgreSQL database."""
    monkeypatch.setenv("JW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("JW_ACTIVATION_DB_URL", raising=False)
    store.dispose()
    if request.param == "sqlite":
        yield None
        store.dispose()
        return
    name = f"h2_webhooks_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg2.connect(ADMIN)
    except psycopg2.OperationalError as error:
        pytest.fail(f"PostgreSQL is not reachable at {ADMIN}: {error}")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"create database {name}")
    yield ADMIN.rsplit("/", 1)[0] + f"/{name}"
    store.dispose()
    with admin.cursor() as cursor:
        cursor.execute(f"drop database if exists {name} with (force)")
    admin.close()


@pytest.fixture()
def receiver(store_url):
    """The receiver's base URL, served by uvicorn in a thread, max age 300 s."""
    with serve(create_app(store_url=store_url, shop_secret=DEMO_SHOP_SECRET, esp_secret=DEMO_ESP_SECRET)) as base:
        yield base


def inbox(url) -> list[dict]:
    with store.engine(url).connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(store.webhook_events).order_by("event_id"))]


def rejections(url) -> list[dict]:
    with store.engine(url).connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(store.rejections).order_by("rejection_id"))]


def checkout(token: str = None, customer: int = 100_017) -> dict:
    token = token or uuid.uuid4().hex
    return sender.checkout_payload(token, customer, CART, datetime.now(timezone.utc), email=EMAIL)


def post_raw(base: str, body: bytes, headers: dict) -> requests.Response:
    return requests.post(f"{base}/webhooks/shop", data=body, headers=headers, timeout=30)


def test_signed_checkout_and_order_are_accepted_into_the_inbox(receiver, store_url):
    payload = checkout("tok-accepted")
    triggered = datetime.now(timezone.utc) - timedelta(seconds=5)
    answer = sender.send(f"{receiver}/webhooks/shop", "checkouts/update", payload, DEMO_SHOP_SECRET,
                         webhook_id="wh-1", triggered_at=triggered)  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "accepted"
    order = sender.order_payload(500_123, "tok-accepted", 100_017, CART, datetime.now(timezone.utc), email=EMAIL)
    answer2 = sender.send(f"{receiver}/webhooks/shop", "orders/create", order, DEMO_SHOP_SECRET)
    assert answer2.status_code == 200, answer2.text

    rows = inbox(store_url)
    assert [r["event_id"] for r in rows] == [answer.json()["event_id"], answer2.json()["event_id"]]
    first, second = rows
    assert (first["source"], first["topic"], first["subject_id"], first["customer_ref"]) == (
        "shop", "checkouts/update", "tok-accepted", "100017")  # fmt: skip
    assert abs((first["triggered_at"] - triggered).total_seconds()) < 0.001
    assert first["received_at"] >= first["triggered_at"]
    assert json.loads(first["payload"]) == payload  # the verified body as it came
    assert [line["product_id"] for line in payload["line_items"]] == [PRODUCT_ID_BASE + 7, PRODUCT_ID_BASE + 12]
    assert (second["topic"], second["subject_id"], second["customer_ref"]) == ("orders/create", "tok-accepted", "100017")
    assert store.webhooks_after(first["event_id"], url=store_url)[0]["payload"]["checkout_token"] == "tok-accepted"
    assert rejections(store_url) == []


def test_forged_or_missing_signature_is_rejected_and_nothing_enqueued(receiver, store_url):
    payload = checkout("tok-forged")
    forged = sender.send(f"{receiver}/webhooks/shop", "checkouts/update", payload, "not-the-shop-secret")
    body = sender.encode(payload)
    headers = sender.shop_headers("checkouts/update", body, DEMO_SHOP_SECRET)
    del headers["X-Shopify-Hmac-Sha256"]
    missing = post_raw(receiver, body, headers)
    garbage = post_raw(receiver, body, {**headers, "X-Shopify-Hmac-Sha256": "%%%not base64"})
    # the ESP's secret is not the shop's
    cross = sender.send(f"{receiver}/webhooks/shop", "checkouts/update", payload, DEMO_ESP_SECRET)
    assert [a.status_code for a in (forged, missing, garbage, cross)] == [401, 401, 401, 401]
    assert inbox(store_url) == []
    recorded = rejections(store_url)
    assert [(r["status"], r["reason"], r["source"]) for r in recorded] == [(401, "bad_signature", "shop")] * 4
    assert EMAIL.lower() not in json.dumps(recorded, default=str).lower()


def test_tampered_body_with_the_original_signature_is_rejected(receiver, store_url):
    body = sender.encode(checkout("tok-tampered"))
    headers = sender.shop_headers("checkouts/update", body, DEMO_SHOP_SECRET)
    tampered = body.replace(b'"quantity":2', b'"quantity":9')
    assert tampered != body
    assert post_raw(receiver, tampered, headers).status_code == 401
    assert post_raw(receiver, body + b" ", headers).status_code == 401  # one byte more: not the signed body
    assert inbox(store_url) == []
    assert post_raw(receiver, body, headers).status_code == 200  # the original, as signed, is taken
    assert [r["subject_id"] for r in inbox(store_url)] == ["tok-tampered"]


def test_a_replayed_webhook_id_is_acknowledged_once_and_stored_once(receiver, store_url):
    payload = checkout("tok-replay")
    triggered = datetime.now(timezone.utc)
    answers = [
        sender.send(f"{receiver}/webhooks/shop", "checkouts/update", payload, DEMO_SHOP_SECRET,
                    webhook_id="wh-retry", triggered_at=triggered)  # fmt: skip
        for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json()["status"] for a in answers] == ["accepted", "duplicate", "duplicate"]
    assert len(inbox(store_url)) == 1
    # Shopify retries a lost acknowledgement for hours with the same id and trigger time: still a duplicate,
    # not a stale refusal that would make it retry again
    late = sender.send(f"{receiver}/webhooks/shop", "checkouts/update", payload, DEMO_SHOP_SECRET,
                       webhook_id="wh-retry", triggered_at=triggered - timedelta(hours=2))  # fmt: skip
    assert (late.status_code, late.json()["status"]) == (200, "duplicate")
    # the same id from the other sender is another event
    esp = sender.send_esp(f"{receiver}/webhooks/esp", sender.unsubscribe_payload("prof-1"), DEMO_ESP_SECRET, event_id="wh-retry")
    assert (esp.status_code, esp.json()["status"]) == (200, "accepted")
    assert len(inbox(store_url)) == 2


def test_stale_or_future_trigger_times_are_refused(receiver, store_url):
    url = f"{receiver}/webhooks/shop"
    now = datetime.now(timezone.utc)
    stale = sender.send(url, "checkouts/update", checkout(), DEMO_SHOP_SECRET, triggered_at=now - timedelta(seconds=301))
    future = sender.send(url, "checkouts/update", checkout(), DEMO_SHOP_SECRET, triggered_at=now + timedelta(minutes=10))
    assert (stale.status_code, stale.json()["reason"]) == (409, "stale")
    assert (future.status_code, future.json()["reason"]) == (409, "future")
    assert inbox(store_url) == []
    assert [(r["status"], r["reason"]) for r in rejections(store_url)] == [(409, "stale"), (409, "future")]
    recent = sender.send(url, "checkouts/update", checkout(), DEMO_SHOP_SECRET, triggered_at=now - timedelta(seconds=200))
    assert recent.status_code == 200  # inside the window


def test_malformed_unknown_and_oversized_webhooks_get_their_status(receiver, store_url):
    def signed(body: bytes, topic: str = "checkouts/update", **override) -> requests.Response:
        headers = {**sender.shop_headers(topic, body, DEMO_SHOP_SECRET), **override}
        return post_raw(receiver, body, {k: v for k, v in headers.items() if v is not None})

    no_token = checkout()
    del no_token["token"]
    statuses = {
        "not json": signed(b"{not json").status_code,
        "array": signed(b"[1, 2]").status_code,
        "not utf-8": signed(b'{"token": "\xff"}').status_code,
        "no token": signed(sender.encode(no_token)).status_code,
        "order without id": signed(b'{"checkout_token": "t"}', "orders/create").status_code,
        "no webhook id": signed(sender.encode(checkout()), **{"X-Shopify-Webhook-Id": None}).status_code,
        "no trigger time": signed(sender.encode(checkout()), **{"X-Shopify-Triggered-At": None}).status_code,
        "bad trigger time": signed(sender.encode(checkout()), **{"X-Shopify-Triggered-At": "yesterday"}).status_code,
        "naive trigger time": signed(sender.encode(checkout()), **{"X-Shopify-Triggered-At": "2026-12-02T01:00:00"}).status_code,
        "unknown topic": signed(sender.encode(checkout()), "carts/update").status_code,
        "too large": signed(b'{"token": "t", "line_items": [], "pad": "' + b"x" * 1_100_000 + b'"}').status_code,
    }
    assert statuses == {
        "not json": 400, "array": 400, "not utf-8": 400, "no token": 400, "order without id": 400,
        "no webhook id": 400, "no trigger time": 400, "bad trigger time": 400, "naive trigger time": 400,
        "unknown topic": 422, "too large": 413,
    }  # fmt: skip
    assert inbox(store_url) == []
    reasons = [r["reason"] for r in rejections(store_url)]
    assert reasons == ["malformed"] * 9 + ["unknown_topic", "too_large"]
    # Shopify's own trigger time format (nanoseconds, Z) is taken
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"
    assert signed(sender.encode(checkout()), **{"X-Shopify-Triggered-At": now}).status_code == 200


def test_esp_unsubscribes_are_verified_with_the_esp_secret(receiver, store_url):
    url = f"{receiver}/webhooks/esp"
    accepted = sender.send_esp(url, sender.unsubscribe_payload("01HPROFILE42"), DEMO_ESP_SECRET)
    assert (accepted.status_code, accepted.json()["status"]) == (200, "accepted"), accepted.text
    assert sender.send_esp(url, sender.unsubscribe_payload("01HPROFILE43"), DEMO_SHOP_SECRET).status_code == 401
    unknown = sender.send_esp(url, {**sender.unsubscribe_payload("p"), "topic": "profile.created"}, DEMO_ESP_SECRET)
    assert unknown.status_code == 422
    assert sender.send_esp(url, {"topic": "profile.unsubscribed"}, DEMO_ESP_SECRET).status_code == 400
    rows = inbox(store_url)
    assert [(r["source"], r["topic"], r["subject_id"], r["customer_ref"]) for r in rows] == [
        ("esp", "profile.unsubscribed", "01HPROFILE42", "01HPROFILE42")]  # fmt: skip
    assert [(r["source"], r["status"]) for r in rejections(store_url)] == [("esp", 401), ("esp", 422), ("esp", 400)]


def test_fifty_concurrent_webhooks_are_all_stored(receiver, store_url):
    url = f"{receiver}/webhooks/shop"
    answers: list = [None] * 50
    start = threading.Barrier(50)

    def post(n: int) -> None:
        start.wait()
        answers[n] = sender.send(url, "checkouts/update", checkout(f"tok-{n:02d}"), DEMO_SHOP_SECRET, timeout=60)

    threads = [threading.Thread(target=post, args=(n,)) for n in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status_code for a in answers] == [200] * 50, {a.status_code: a.text for a in answers if a.status_code != 200}
    rows = inbox(store_url)
    assert sorted(r["subject_id"] for r in rows) == [f"tok-{n:02d}" for n in range(50)]
    assert sorted(a.json()["event_id"] for a in answers) == sorted(r["event_id"] for r in rows)
    assert rejections(store_url) == []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_journey_webhooks_serves_and_logs_no_bodies(tmp_path, monkeypatch):
    """The command as run: it says where it listens and which inbox it writes, takes a signed webhook, refuses a
    forged one, and its output holds nothing of either (no access log, no body)."""
    port = _free_port()
    data = tmp_path / "data"
    env = {**os.environ, "JW_DATA_DIR": str(data), "PYTHONPATH": str(REPO_ROOT), "JW_SHOP_WEBHOOK_SECRET": "s3cret-of-the-test"}
    env.pop("JW_ACTIVATION_DB_URL", None)
    process = subprocess.Popen([sys.executable, "-m", "orchestration.cli", "webhooks", "--port", str(port)],
                               cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "the receiver did not come up"
            time.sleep(0.2)
        url = f"http://127.0.0.1:{port}/webhooks/shop"
        assert sender.send(url, "checkouts/update", checkout("tok-cli"), "s3cret-of-the-test").status_code == 200
        assert sender.send(url, "checkouts/update", checkout("tok-cli-forged"), DEMO_SHOP_SECRET).status_code == 401
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}/webhooks/shop" in output
    assert str(data / "activation") in output
    for secret_or_personal in (EMAIL, EMAIL.lower(), "tok-cli", "s3cret-of-the-test", "/webhooks/shop HTTP"):
        assert secret_or_personal not in output
    monkeypatch.setenv("JW_DATA_DIR", str(data))
    monkeypatch.delenv("JW_ACTIVATION_DB_URL", raising=False)
    store.dispose()
    try:
        assert [r["subject_id"] for r in inbox(None)] == ["tok-cli"]
    finally:
        store.dispose()


def test_a_store_that_is_gone_answers_503_so_the_sender_retries(store_url):
    """PostgreSQL dropped under the running receiver: 503 with Retry-After (Shopify retries), nothing logged of the
    body; healthz says so too."""
    if store_url is None:
        pytest.skip("PostgreSQL only: a SQLite store is a file the receiver creates again")
    with serve(create_app(store_url=store_url)) as base:
        assert requests.get(f"{base}/healthz", timeout=10).status_code == 200
        store.dispose()
        admin = psycopg2.connect(ADMIN)
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(f"drop database {store_url.rsplit('/', 1)[1]} with (force)")
        admin.close()
        answer = sender.send(f"{base}/webhooks/shop", "checkouts/update", checkout(), DEMO_SHOP_SECRET)
        assert (answer.status_code, answer.json()["reason"]) == (503, "store_unavailable")
        assert answer.headers["Retry-After"]
        assert requests.get(f"{base}/healthz", timeout=10).status_code == 503
