"""The webhook receiver (``journey webhooks``): a small ASGI app that verifies what the shop and the ESP push and
appends it to the activation store's inbox (``inbox.webhook_events``), outside the warehouse.

Routes:

- ``POST /webhooks/shop``: Shopify's scheme. ``X-Shopify-Hmac-Sha256`` = base64(HMAC-SHA256(shop secret, raw
  body)), ``X-Shopify-Topic``, ``X-Shopify-Webhook-Id``, ``X-Shopify-Triggered-At``, ``X-Shopify-Shop-Domain``.
  Topics ``checkouts/create``, ``checkouts/update`` (``subject_id`` = the checkout's ``token``) and
  ``orders/create`` (``subject_id`` = the order's ``checkout_token``, so the sensor sees the purchase that ends
  an abandonment); ``customer_ref`` = the shop customer id.
- ``POST /webhooks/esp``: the same scheme with the ESP's secret and ``X-ESP-Signature``, ``X-ESP-Event-Id``,
  ``X-ESP-Timestamp``; the topic is in the body (``{"topic": "profile.unsubscribed", "profile_id": ...,
  "channel": "email", "occurred_at": ...}``); ``subject_id`` = ``customer_ref`` = the ESP profile id.
- ``GET /healthz``: ``{"status": "ok"}``, or 503 when the store does not answer.

Answers, in the order they are checked (every refusal but a duplicate is written to ``inbox.rejections`` with
its status and a reason word, never the body):

- 413 ``too_large``: a body over ``max_body_bytes`` (1 MB), by its Content-Length or while it streams in;
- 401 ``bad_signature``: no signature, or one that does not match the RAW body (``hmac.compare_digest``, before
  anything is parsed): nothing is enqueued;
- 400 ``malformed``: no webhook id or timestamp header, a timestamp that does not parse, a body that is not a
  JSON object, or one without the topic's required fields;
- 422 ``unknown_topic``: a topic the receiver does not take. Refused rather than acknowledged (200-ignored): only
  a misconfigured subscription sends one, and a refusal shows in the sender's delivery log and in the rejections
  here, where an acknowledgement would hide it;
- 200 ``{"status": "duplicate"}``: a webhook id already in the inbox (Shopify retries a delivery whose
  acknowledgement got lost, with the same id and trigger time): acknowledged so the sender stops, not written
  again. Checked before the age, so that a retry of an accepted webhook is never refused as stale;
- 409 ``stale`` / ``future``: a trigger time older than ``max_age_seconds`` (300) or more than
  ``FUTURE_SKEW_SECONDS`` ahead of the receiver's clock: a replay or a sender with a broken clock;
- 200 ``{"status": "accepted", "event_id": N}``;
- 503 ``store_unavailable`` when the store cannot be written: the sender retries later.

Limits of the scheme (Shopify's, kept as is): the HMAC covers the body only, so the webhook id and trigger time
are not authenticated. Whoever captured a signed body can send it again under a fresh id and time; what keeps
that harmless is downstream: a checkout's message has the idempotency key ``cart_abandonment:<token>``, so a
replayed checkout never yields a second message. ``max_age_seconds`` should cover the sender's retry window if
no event may be lost while the receiver is down (Shopify retries for hours); refused ones are in the rejections.

Nothing here logs a body, a header value or an address: uvicorn's access log is off (see :func:`serve`), and a
store error is logged by its class name only (SQLAlchemy's messages carry the statement's parameters).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import re
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Iterator

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from activation import store

log = logging.getLogger("journey.webhooks")

# Demo secrets, as the demo shop and ESP sign with them unless told otherwise; a real deployment sets the
# environment variables (Shopify shows the app's secret in its settings).
DEMO_SHOP_SECRET = "demo-shop-webhook-secret"
DEMO_ESP_SECRET = "demo-esp-webhook-secret"
SHOP_SECRET_ENV, ESP_SECRET_ENV = "JW_SHOP_WEBHOOK_SECRET", "JW_ESP_WEBHOOK_SECRET"

SHOP_TOPICS = ("checkouts/create", "checkouts/update", "orders/create")
ESP_TOPICS = ("profile.unsubscribed",)
MAX_BODY_BYTES = 1_000_000
FUTURE_SKEW_SECONDS = 60  # clocks differ; an event further ahead than this is not believed
MAX_ID_LENGTH = 200  # webhook ids are UUIDs; anything longer is not one


def sign(body: bytes, secret: str) -> str:
    """base64(HMAC-SHA256(secret, body)): the value of ``X-Shopify-Hmac-Sha256`` / ``X-ESP-Signature``."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify(body: bytes, presented: str | None, secret: str) -> bool:
    """Whether ``presented`` is the signature of the raw ``body`` (constant-time comparison)."""
    if not presented:
        return False
    return hmac.compare_digest(sign(body, secret).encode(), presented.strip().encode())


_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_instant(value: str) -> datetime:
    """An ISO-8601 time with an offset (Shopify writes nanoseconds and ``Z``), in UTC; ValueError otherwise."""
    parsed = datetime.fromisoformat(_FRACTION.sub(r"\1", value.strip()).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("no time zone offset")
    return parsed.astimezone(timezone.utc)


class Refused(Exception):
    def __init__(self, status: int, reason: str, detail: str):
        super().__init__(detail)
        self.status, self.reason, self.detail = status, reason, detail


def _shop_fields(topic: str, body: dict) -> dict[str, Any]:
    """subject_id and customer_ref of a shop webhook (Refused 400 when the topic's required fields are missing)."""
    customer = body.get("customer")
    customer_id = customer.get("id") if isinstance(customer, dict) else None
    if topic.startswith("checkouts/"):
        token = body.get("token")
        if not isinstance(token, str) or not token or not isinstance(body.get("line_items"), list):
            raise Refused(400, "malformed", "a checkout needs a token and line_items")
        subject = token
    else:  # orders/create: the order's checkout token ties the purchase to its checkout (None: a POS order)
        if body.get("id") is None:
            raise Refused(400, "malformed", "an order needs an id")
        token = body.get("checkout_token")
        if token is not None and not isinstance(token, str):
            raise Refused(400, "malformed", "checkout_token must be a string")
        subject = token or None
    return {"subject_id": subject, "customer_ref": None if customer_id is None else str(customer_id)}


def _esp_fields(body: dict) -> dict[str, Any]:
    topic = body.get("topic")
    if not isinstance(topic, str) or not topic:
        raise Refused(400, "malformed", "an ESP event needs a topic")
    if topic not in ESP_TOPICS:
        raise Refused(422, "unknown_topic", f"topic not accepted; accepted: {', '.join(ESP_TOPICS)}")
    profile = body.get("profile_id")
    if not isinstance(profile, str) or not profile:
        raise Refused(400, "malformed", "an ESP event needs a profile_id")
    return {"topic": topic, "subject_id": profile, "customer_ref": profile}


class _Receiver:
    def __init__(self, store_url: str | None, secrets: dict[str, str], max_age: float, max_body: int):
        self.store_url = store_url
        self.secrets = secrets
        self.max_age = max_age
        self.max_body = max_body

    # --- the store, in a worker thread (SQLAlchemy is synchronous) -------------------------------------------
    def _reject(self, status: int, reason: str, source: str) -> None:
        try:
            store.record_rejection(status, reason, source, url=self.store_url)
        except Exception as error:  # a refusal is answered even when it cannot be recorded
            log.error("could not record a rejection (%s %s): %s", status, reason, type(error).__name__)

    def _event_id(self, webhook_id: str) -> int | None:
        table = store.webhook_events
        with store.engine(self.store_url).connect() as conn:
            return conn.execute(sa.select(table.c.event_id).where(table.c.webhook_id == webhook_id)).scalar()

    def _append(self, event: dict) -> int | None:
        """The new event's id, or None when its webhook id was already there."""
        if not store.append_webhook(event, url=self.store_url):
            return None
        return self._event_id(event["webhook_id"])

    # --- the request ---------------------------------------------------------------------------------------
    async def _body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_body:
            raise Refused(413, "too_large", f"body over {self.max_body} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body:
                raise Refused(413, "too_large", f"body over {self.max_body} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def receive(self, request: Request, source: str) -> JSONResponse:
        received_at = datetime.now(timezone.utc)
        try:
            return await self._receive(request, source, received_at)
        except Refused as refusal:
            if refusal.status == 200:  # a retry of a delivery already in the inbox: normal, not recorded
                return JSONResponse({"status": "duplicate"})
            await run_in_threadpool(self._reject, refusal.status, refusal.reason, source)
            log.info("%s webhook refused: %s %s", source, refusal.status, refusal.reason)
            return JSONResponse({"status": "rejected", "reason": refusal.reason, "detail": refusal.detail}, refusal.status)
        except ClientDisconnect:
            return JSONResponse({"status": "rejected", "reason": "disconnected"}, 400)
        except Exception as error:  # the store is down or locked past its timeout: the sender retries
            log.error("%s webhook not stored: %s", source, type(error).__name__)
            return JSONResponse({"status": "error", "reason": "store_unavailable"}, 503, headers={"Retry-After": "5"})

    async def _receive(self, request: Request, source: str, received_at: datetime) -> JSONResponse:
        headers = request.headers
        if source == "shop":
            names = ("x-shopify-hmac-sha256", "x-shopify-webhook-id", "x-shopify-triggered-at")
        else:
            names = ("x-esp-signature", "x-esp-event-id", "x-esp-timestamp")
        signature, webhook_id, triggered = (headers.get(name) for name in names)
        body = await self._body(request)
        if not verify(body, signature, self.secrets[source]):
            raise Refused(401, "bad_signature", "missing or invalid signature")
        if not webhook_id or len(webhook_id) > MAX_ID_LENGTH:
            raise Refused(400, "malformed", f"{names[1]} missing or too long")
        try:
            triggered_at = parse_instant(triggered or "")
        except ValueError:
            raise Refused(400, "malformed", f"{names[2]} missing or not an ISO-8601 time with an offset") from None
        topic = headers.get("x-shopify-topic") if source == "shop" else None
        if source == "shop" and topic not in SHOP_TOPICS:
            raise Refused(422, "unknown_topic", f"topic not accepted; accepted: {', '.join(SHOP_TOPICS)}")
        try:
            payload = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise Refused(400, "malformed", "body is not JSON") from None
        if not isinstance(payload, dict):
            raise Refused(400, "malformed", "body is not a JSON object")
        fields = _shop_fields(topic, payload) if source == "shop" else _esp_fields(payload)
        topic = fields.pop("topic", topic)
        key = f"{source}:{webhook_id}"  # ids of two senders may collide; a replay is one sender's id again
        if await run_in_threadpool(self._event_id, key) is not None:
            raise Refused(200, "duplicate", "already received")
        age = (received_at - triggered_at).total_seconds()
        if age > self.max_age:
            raise Refused(409, "stale", f"triggered {age:.0f} s ago, more than {self.max_age:.0f} s: replayed or stale")
        if age < -FUTURE_SKEW_SECONDS:
            raise Refused(409, "future", "triggered in the future: replayed or a wrong clock")
        event = {
            "webhook_id": key,
            "source": source,
            "topic": topic,
            **fields,
            "triggered_at": triggered_at,
            "received_at": received_at,
            "payload": body.decode("utf-8"),  # the verified body as it came
        }
        event_id = await run_in_threadpool(self._append, event)
        if event_id is None:  # the same id raced in from a parallel retry
            raise Refused(200, "duplicate", "already received")
        return JSONResponse({"status": "accepted", "event_id": event_id})


def create_app(
    store_url: str | None = None,
    shop_secret: str | None = None,
    esp_secret: str | None = None,
    max_age_seconds: float = 300,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> Starlette:
    """The receiver's ASGI app, writing to the store at ``store_url`` (a PostgreSQL URL; None: the store's
    default, ``$JW_ACTIVATION_DB_URL`` or the SQLite files in ``$JW_DATA_DIR/activation``). Secrets default to
    ``$JW_SHOP_WEBHOOK_SECRET`` / ``$JW_ESP_WEBHOOK_SECRET``, then the demo's.

    The store's tables are created here, once, before any request: parallel first requests would race on it."""
    store.engine(store_url)
    secrets = {
        "shop": shop_secret or os.environ.get(SHOP_SECRET_ENV) or DEMO_SHOP_SECRET,
        "esp": esp_secret or os.environ.get(ESP_SECRET_ENV) or DEMO_ESP_SECRET,
    }
    receiver = _Receiver(store_url, secrets, float(max_age_seconds), int(max_body_bytes))

    async def shop(request: Request) -> JSONResponse:
        return await receiver.receive(request, "shop")

    async def esp(request: Request) -> JSONResponse:
        return await receiver.receive(request, "esp")

    def store_reachable() -> bool:
        try:
            with store.engine(store_url).connect() as conn:
                conn.execute(sa.text("select 1"))
            return True
        except Exception as error:  # noqa: BLE001 - reported as unavailable, logged by class only
            log.error("store not reachable: %s", type(error).__name__)
            return False

    async def healthz(request: Request) -> JSONResponse:
        if await run_in_threadpool(store_reachable):
            return JSONResponse({"status": "ok"})
        return JSONResponse({"status": "store_unavailable"}, 503)

    return Starlette(
        routes=[
            Route("/webhooks/shop", shop, methods=["POST"]),
            Route("/webhooks/esp", esp, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


def describe_store(store_url: str | None = None) -> str:
    """Where the receiver writes, for people (a PostgreSQL URL's password masked)."""
    from ingestion.config import activation_db_url, activation_dir

    url = store_url or activation_db_url()
    if not url:
        return f"SQLite {activation_dir()}/{{activation,inbox,exports}}.sqlite"
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def uvicorn_config(app, host: str = "127.0.0.1", port: int = 8010, **options):
    """uvicorn's settings for the receiver: no access log (paths and client addresses only in theory, but
    nothing a receiver needs to keep), no server header."""
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, access_log=False, server_header=False, log_level="warning", **options)


@contextmanager
def serve(app=None, host: str = "127.0.0.1", port: int = 0, **create_options) -> Iterator[str]:
    """Serve the receiver with uvicorn in a background thread for the duration of the block; yields its base URL
    (``port=0``: any free port). For tests and the activation bench; ``journey webhooks`` runs it in front."""
    import socket

    import uvicorn

    app = app or create_app(**create_options)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    server = uvicorn.Server(uvicorn_config(app, host=host, port=sock.getsockname()[1]))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="webhooks", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the webhook receiver did not start")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


__all__ = ["create_app", "serve", "sign", "verify", "describe_store", "parse_instant", "SHOP_TOPICS", "ESP_TOPICS"]
