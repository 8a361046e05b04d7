"""The demo shop's and ESP's webhook senders: what Shopify (``checkouts/update``, ``orders/create``) and the ESP
(``profile.unsubscribed``) push to a subscriber, signed the way they sign.

Shopify: ``POST`` of the resource's JSON with ``X-Shopify-Topic``, ``X-Shopify-Hmac-Sha256`` (base64 of the
HMAC-SHA256 of the raw body under the app's secret), ``X-Shopify-Webhook-Id`` (one per delivery, the same on
every retry of it), ``X-Shopify-Triggered-At`` and ``X-Shopify-Shop-Domain``. The ESP signs the same way with
``X-ESP-Signature``, ``X-ESP-Event-Id`` and ``X-ESP-Timestamp``; its topic is in the body.

Product and variant ids are the ones the demo shop's Admin API serves (``PRODUCT_ID_BASE`` + the product's
number, :mod:`ingestion.demo_world.generator`); a line item may name a product by its world id (``prod-007``).

The payload carries the customer's e-mail like Shopify's does: it goes to the receiver's inbox, outside the
warehouse, and is never logged here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import uuid
from datetime import datetime, timezone
from typing import Any, Iterable

from .generator import PRODUCT_ID_BASE, VARIANT_ID_BASE, shop_time

DEMO_SHOP_SECRET = "demo-shop-webhook-secret"  # the receiver's demo default too (activation.webhooks)
DEMO_ESP_SECRET = "demo-esp-webhook-secret"
SHOP_DOMAIN = "journey-demo.myshopify.com"


def shop_secret() -> str:
    return os.environ.get("JW_SHOP_WEBHOOK_SECRET") or DEMO_SHOP_SECRET


def esp_secret() -> str:
    return os.environ.get("JW_ESP_WEBHOOK_SECRET") or DEMO_ESP_SECRET


def sign(body: bytes, secret: str) -> str:
    """base64(HMAC-SHA256(secret, body)), Shopify's ``X-Shopify-Hmac-Sha256``."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def encode(payload: dict) -> bytes:
    """The body as sent (and signed): compact JSON, UTF-8."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def _utc_iso(at: datetime | None) -> str:
    at = (at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return at.isoformat(timespec="microseconds").replace("+00:00", "Z")


def shop_product_id(product_id: int | str) -> int:
    """The shop's numeric product id of a world product id (``prod-007``) or of a numeric one (kept)."""
    if isinstance(product_id, str) and product_id.startswith("prod-"):
        return PRODUCT_ID_BASE + int(product_id.removeprefix("prod-"))
    return int(product_id)


def _line_items(parent_id: int, items: Iterable[dict]) -> list[dict]:
    lines = []
    for n, item in enumerate(items, start=1):
        product = shop_product_id(item["product_id"])
        number = product - PRODUCT_ID_BASE
        price = float(item["price"])
        quantity = int(item.get("quantity", 1))
        lines.append(
            {
                "id": parent_id * 10 + n,
                "key": f"{parent_id}-{n}",
                "product_id": product,
                "variant_id": int(item.get("variant_id") or VARIANT_ID_BASE + number),
                "sku": item.get("sku") or f"SKU-{number:05d}",
                "title": item.get("title") or f"Product {number}",
                "quantity": quantity,
                "price": f"{price:.2f}",
                "line_price": f"{price * quantity:.2f}",
                "requires_shipping": True,
                "taxable": True,
            }
        )
    return lines


def _total(lines: list[dict]) -> str:
    return f"{sum(float(line['line_price']) for line in lines):.2f}"


def checkout_payload(
    checkout_token: str,
    shop_customer_id: int | str | None,
    line_items: Iterable[dict],
    updated_at: datetime,
    *,
    email: str | None = None,
    created_at: datetime | None = None,
    checkout_id: int | None = None,
    currency: str = "EUR",
    completed_at: datetime | None = None,
) -> dict[str, Any]:
    """A checkout as Shopify's ``checkouts/create`` / ``checkouts/update`` webhooks carry it.

    ``line_items``: ``[{product_id, variant_id?, quantity, price}]`` (``product_id`` numeric or ``prod-NNN``)."""
    checkout_id = checkout_id or 800_000_000 + int(hashlib.sha256(checkout_token.encode()).hexdigest()[:6], 16)
    lines = _line_items(checkout_id, line_items)
    total = _total(lines)
    customer = None
    if shop_customer_id is not None:
        customer = {"id": int(shop_customer_id), "email": email, "accepts_marketing": None}
    return {
        "id": checkout_id,
        "token": checkout_token,
        "cart_token": hashlib.sha256(f"cart:{checkout_token}".encode()).hexdigest()[:32],
        "email": email,
        "currency": currency,
        "presentment_currency": currency,
        "created_at": shop_time(created_at or updated_at),
        "updated_at": shop_time(updated_at),
        "completed_at": shop_time(completed_at) if completed_at else None,
        "abandoned_checkout_url": f"https://{SHOP_DOMAIN}/checkouts/{checkout_token}/recover",
        "line_items": lines,
        "subtotal_price": total,
        "total_line_items_price": total,
        "total_price": total,
        "total_discounts": "0.00",
        "total_tax": "0.00",
        "discount_codes": [],
        "source_name": "web",
        "customer": customer,
    }


def order_payload(
    order_id: int,
    checkout_token: str | None,
    shop_customer_id: int | str | None,
    line_items: Iterable[dict],
    created_at: datetime,
    *,
    email: str | None = None,
    currency: str = "EUR",
    financial_status: str = "paid",
) -> dict[str, Any]:
    """An order as Shopify's ``orders/create`` webhook carries it; ``checkout_token`` ties it to its checkout
    (a checkout that became an order was not abandoned)."""
    lines = _line_items(order_id, line_items)
    return {
        "id": order_id,
        "name": f"#{order_id}",
        "checkout_token": checkout_token,
        "email": email,
        "currency": currency,
        "financial_status": financial_status,
        "fulfillment_status": None,
        "created_at": shop_time(created_at),
        "updated_at": shop_time(created_at),
        "processed_at": shop_time(created_at),
        "line_items": lines,
        "total_price": _total(lines),
        "customer": {"id": int(shop_customer_id), "email": email} if shop_customer_id is not None else None,
    }


def unsubscribe_payload(profile_id: str, occurred_at: datetime | None = None, channel: str = "email") -> dict:
    """The ESP's ``profile.unsubscribed`` event."""
    return {"topic": "profile.unsubscribed", "profile_id": profile_id, "channel": channel, "occurred_at": _utc_iso(occurred_at)}


def shop_headers(topic: str, body: bytes, secret: str, webhook_id: str | None = None,
                 triggered_at: datetime | None = None, shop_domain: str = SHOP_DOMAIN) -> dict[str, str]:  # fmt: skip
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": sign(body, secret),
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-Triggered-At": _utc_iso(triggered_at),
        "X-Shopify-Shop-Domain": shop_domain,
        "X-Shopify-API-Version": "2024-07",
    }


def send(
    url: str,
    topic: str,
    payload: dict,
    secret: str | None = None,
    webhook_id: str | None = None,
    triggered_at: datetime | None = None,
    timeout: float = 10.0,
    session=None,
):
    """POST one shop webhook to ``url`` (the receiver's ``.../webhooks/shop``); returns the ``requests``
    response. Send the same ``webhook_id`` and ``triggered_at`` again to play a retry."""
    import requests

    body = encode(payload)
    headers = shop_headers(topic, body, secret or shop_secret(), webhook_id, triggered_at)
    return (session or requests).post(url, data=body, headers=headers, timeout=timeout)


def send_esp(
    url: str,
    payload: dict,
    secret: str | None = None,
    event_id: str | None = None,
    timestamp: datetime | None = None,
    timeout: float = 10.0,
    session=None,
):
    """POST one ESP event to ``url`` (the receiver's ``.../webhooks/esp``)."""
    import requests

    body = encode(payload)
    headers = {
        "Content-Type": "application/json",
        "X-ESP-Signature": sign(body, secret or esp_secret()),
        "X-ESP-Event-Id": event_id or str(uuid.uuid4()),
        "X-ESP-Timestamp": _utc_iso(timestamp),
    }
    return (session or requests).post(url, data=body, headers=headers, timeout=timeout)
