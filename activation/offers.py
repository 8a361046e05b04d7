"""Real-time cart abandonment: which checkouts are abandoned, and what each abandoner is offered.

No Dagster here (``orchestration/defs/activation.py`` calls it): the sensor folds inbox events into pending
checkouts with :func:`advance`; the run turns the due ones into outbox messages with :func:`plan`.

- A checkout is abandoned when its latest ``checkouts/update`` (or ``checkouts/create``) was received at least the
  quiet period ago (``JW_ABANDON_QUIET_SECONDS``, default 1800), no ``orders/create`` (or ``orders/paid``) named its
  token, and the shop did not mark it completed (``completed_at``). The quiet period runs on the receiver's clock
  (``received_at``), not the shop's timestamps: a late or replayed delivery restarts the wait, never skips it.
- The real-time path never waits for the warehouse's single writer: it reads the serving copy
  (``ingestion.config.serving_path()``, read-only; marts only, no pii) and writes only the activation store.
  Marts read: ``person_source_ids`` (shop customer -> person -> ESP profile), ``customer_360``
  (``consent_email_marketing``), ``product_similarity``, ``product_catalog`` (stock), ``person_product_purchases``.
- A due checkout becomes no message, with a reason counted (never a name or an address), when: the customer is
  unknown to the serving copy, the person has no e-mail consent, is suppressed or erased
  (``store.suppressed(..., "email_marketing")``), is in the campaign's holdout (``activation.holdout``), has had
  ``frequency_cap_per_week`` messages in the outbox in the last 7 days, has no ESP profile, or nothing is left to
  offer.
- Offers: up to :data:`MAX_OFFERS` products similar to the cart's products (``marts.product_similarity``): in
  stock, not in the cart, not bought by the person before; the best first (a co_purchase neighbour before a
  category_price_band one, then the best rank any cart product gives it, then the higher score, then the id).
  Each carries the checkout's discount code: an HMAC of the checkout token (``JW_DISCOUNT_CODE_SECRET``), the same
  on every retry and not guessable from the token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

from . import store
from .holdout import in_holdout

CAMPAIGN_ID = "cart_abandonment"
QUIET_SECONDS_ENV = "JW_ABANDON_QUIET_SECONDS"
DEFAULT_QUIET_SECONDS = 1800.0
DISCOUNT_SECRET_ENV = "JW_DISCOUNT_CODE_SECRET"
DEMO_DISCOUNT_SECRET = "demo-discount-code-secret"
MAX_OFFERS = 3
FREQUENCY_WINDOW = timedelta(days=7)
CHECKOUT_TOPICS = ("checkouts/create", "checkouts/update")
ORDER_TOPICS = ("orders/create", "orders/paid")
# why a due checkout got no message, in the order they are checked
SKIP_REASONS = (
    "unknown_person", "no_consent", "suppressed", "holdout", "frequency_cap", "no_esp_profile", "no_offers",
)  # fmt: skip
# the cart_abandonment campaign when activation.definitions (the campaigns' YAML) cannot be read
DEFAULT_CAMPAIGN = {
    "campaign_id": CAMPAIGN_ID, "trigger": "checkouts/update", "destination": "esp", "template": "cart_abandonment",
    "holdout_share": 0.10, "discount_percent": 10,
}  # fmt: skip
DEFAULT_FREQUENCY_CAP = 2


def quiet_seconds() -> float:
    return float(os.environ.get(QUIET_SECONDS_ENV) or DEFAULT_QUIET_SECONDS)


def campaign() -> tuple[dict, int]:
    """The cart_abandonment campaign and the weekly frequency cap, from the campaigns' YAML
    (``activation.definitions``) when it defines them, else :data:`DEFAULT_CAMPAIGN` / :data:`DEFAULT_FREQUENCY_CAP`."""
    try:
        from . import definitions
    except ImportError:  # the campaigns' definitions are not there (yet)
        return dict(DEFAULT_CAMPAIGN), DEFAULT_FREQUENCY_CAP
    try:
        found = definitions.campaigns().get(CAMPAIGN_ID)
        cap = definitions.frequency_cap_per_week()
    except (KeyError, FileNotFoundError):
        return dict(DEFAULT_CAMPAIGN), DEFAULT_FREQUENCY_CAP
    merged = {**DEFAULT_CAMPAIGN, **{k: v for k, v in (found or {}).items() if v is not None}}
    return merged, cap


def discount_code(token: str, secret: str | None = None) -> str:
    """The checkout's discount code: ``JW`` and 12 base-32 characters of HMAC-SHA256(secret, token) (no
    separator: the code never starts a digit run a PII scan could take for a phone number)."""
    key = (secret or os.environ.get(DISCOUNT_SECRET_ENV) or DEMO_DISCOUNT_SECRET).encode()
    digest = hmac.new(key, f"{CAMPAIGN_ID}:{token}".encode(), hashlib.sha256).digest()
    return "JW" + base64.b32encode(digest).decode()[:12]


# --- checkouts from inbox events --------------------------------------------------------------------------


@dataclass
class Checkout:
    token: str
    customer_ref: str | None = None  # the shop customer id (text), None for a guest
    product_ids: list[str] = field(default_factory=list)  # the cart's products (Shopify product ids as text)
    last_update_at: datetime | None = None  # received_at of its latest checkouts/update
    event_id: int = 0  # that event
    completed: bool = False
    ordered: bool = False


def _ids(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _customer(payload: dict) -> str | None:
    customer = payload.get("customer")
    return _ids(customer.get("id") if isinstance(customer, dict) else payload.get("customer_id"))


def fold(events: Iterable[dict]) -> dict[str, Checkout]:
    """The checkouts the shop's inbox events tell of, by token (events in ``event_id`` order)."""
    checkouts: dict[str, Checkout] = {}
    for event in sorted(events, key=lambda e: e["event_id"]):
        if event.get("source") != "shop":
            continue
        payload = event.get("payload") or {}
        if event["topic"] in CHECKOUT_TOPICS:
            token = _ids(event.get("subject_id") or payload.get("token"))
            if token is None:
                continue
            checkout = checkouts.setdefault(token, Checkout(token))
            checkout.customer_ref = _ids(event.get("customer_ref")) or _customer(payload) or checkout.customer_ref
            lines = payload.get("line_items") or []
            checkout.product_ids = list(dict.fromkeys(str(l["product_id"]) for l in lines if l.get("product_id") is not None))
            checkout.last_update_at = event["received_at"]
            checkout.event_id = event["event_id"]
            checkout.completed = bool(payload.get("completed_at"))
        elif event["topic"] in ORDER_TOPICS:
            token = _ids(payload.get("checkout_token") or event.get("subject_id"))
            if token is not None:  # None: an order without a checkout (POS)
                checkouts.setdefault(token, Checkout(token)).ordered = True
    return checkouts


def not_due(checkout: Checkout, now: datetime, quiet: float) -> str | None:
    """Why ``checkout`` is not abandoned (yet), or None when it is: ordered | completed | quiet | no_update."""
    if checkout.ordered:
        return "ordered"
    if checkout.completed:
        return "completed"
    if checkout.last_update_at is None:
        return "no_update"
    if now - checkout.last_update_at < timedelta(seconds=quiet):
        return "quiet"
    return None


# --- the sensor's state -----------------------------------------------------------------------------------


def advance(state: dict | None, events: Iterable[dict], now: datetime, quiet: float) -> tuple[dict, dict[str, int]]:
    """The sensor's step: fold new inbox ``events`` into ``state`` (``{"event_id": last examined, "pending":
    {token: {"at": ISO received_at, "event_id": n}}}``) and take out the checkouts due now.

    A checkout update (re)starts its wait; an order or a completed checkout drops it. Returns the new state and
    the due tokens (sorted) with the event id of the update that made each due. The run checks them again against the whole inbox, so an order the sensor has not
    seen yet still cancels the message."""
    state = {"event_id": int((state or {}).get("event_id", 0)), "pending": dict((state or {}).get("pending", {}))}
    pending = state["pending"]
    for event in sorted(events, key=lambda e: e["event_id"]):
        state["event_id"] = max(state["event_id"], event["event_id"])
        for token, checkout in fold([event]).items():
            if checkout.ordered or checkout.completed:
                pending.pop(token, None)
            elif checkout.last_update_at is not None:
                pending[token] = {"at": checkout.last_update_at.isoformat(), "event_id": checkout.event_id}
    due = sorted(t for t, p in pending.items() if now - datetime.fromisoformat(p["at"]) >= timedelta(seconds=quiet))
    return state, {token: int(pending.pop(token)["event_id"]) for token in due}


# --- offers -----------------------------------------------------------------------------------------------


def _connect_serving(path: Path | None):
    import duckdb

    from ingestion.config import serving_path

    return duckdb.connect(str(path or serving_path()), read_only=True)


def _in(values: Iterable[str]) -> list[str]:
    return sorted(set(values)) or [""]


class Serving:
    """The marts the offers read, from one read-only connection to the serving copy."""

    def __init__(self, path: Path | None = None):
        self.con = _connect_serving(path)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> "Serving":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _pairs(self, sql: str, params: list) -> dict:
        return dict(self.con.execute(sql, params).fetchall())

    def persons(self, shop_customer_ids: Iterable[str]) -> dict[str, str]:
        return self._pairs(
            "select source_id, person_id from marts.person_source_ids"
            " where id_type = 'shop_customer' and list_contains(?, source_id)", [_in(shop_customer_ids)])  # fmt: skip

    def esp_profiles(self, person_ids: Iterable[str]) -> dict[str, str]:
        """One ESP profile per person (the lowest id when the person has several)."""
        return self._pairs(
            "select person_id, min(source_id) from marts.person_source_ids"
            " where id_type = 'esp_profile' and list_contains(?, person_id) group by person_id", [_in(person_ids)])  # fmt: skip

    def email_consent(self, person_ids: Iterable[str]) -> dict[str, bool]:
        return self._pairs(
            "select person_id, consent_email_marketing from marts.customer_360 where list_contains(?, person_id)",
            [_in(person_ids)])  # fmt: skip

    def similar(self, product_ids: Iterable[str]) -> list[tuple[str, str, float, str, int]]:
        return self.con.execute(
            "select product_id, similar_product_id, score, method, rank from marts.product_similarity"
            " where list_contains(?, product_id)", [_in(product_ids)]).fetchall()  # fmt: skip

    def in_stock(self, product_ids: Iterable[str]) -> set[str]:
        return {p for (p,) in self.con.execute(
            "select product_id from marts.product_catalog where in_stock and list_contains(?, product_id)",
            [_in(product_ids)]).fetchall()}  # fmt: skip

    def bought(self, person_id: str) -> set[str]:
        return {p for (p,) in self.con.execute(
            "select product_id from marts.person_product_purchases where person_id = ?", [person_id]).fetchall()}  # fmt: skip


METHOD_ORDER = {"co_purchase": 1, "category_price_band": 2}


def pick_offers(serving: Serving, cart: list[str], person_id: str, limit: int = MAX_OFFERS) -> list[str]:
    """Up to ``limit`` products similar to ``cart``: in stock, not in the cart, not bought by ``person_id``."""
    best: dict[str, tuple] = {}
    for _product, similar, score, method, rank in serving.similar(cart):
        key = (METHOD_ORDER.get(method, 9), rank, -score)
        if similar not in best or key < best[similar]:
            best[similar] = key
    excluded = set(cart) | serving.bought(person_id)
    candidates = [p for p in best if p not in excluded]
    stocked = serving.in_stock(candidates)
    return sorted((p for p in candidates if p in stocked), key=lambda p: (best[p], p))[:limit]


@dataclass
class Plan:
    """What a run makes of its checkouts: the outbox rows, and per checkout not messaged the reason."""

    messages: list[dict] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # token -> reason (SKIP_REASONS, or why not due)

    def reasons(self) -> dict[str, int]:
        return dict(sorted(Counter(self.skipped.values()).items()))


def plan(
    tokens: Iterable[str], batch_id: str, *, now: datetime | None = None, quiet: float | None = None,
    serving_path: Path | None = None, url: str | None = None,
) -> Plan:  # fmt: skip
    """The outbox rows for the checkouts ``tokens`` (those abandoned as of ``now``), as batch ``batch_id``.

    Reads the tokens' whole story from the inbox (an order since the sensor looked cancels), the serving copy
    and the outbox (frequency cap); writes nothing."""
    now = now or datetime.now(timezone.utc)
    quiet = quiet_seconds() if quiet is None else quiet
    settings, cap = campaign()
    share = float(settings.get("holdout_share") or 0.0)
    result = Plan()
    checkouts = fold(store.webhooks_for_subjects(tokens, url=url))
    due = []
    for token in sorted(set(tokens)):
        checkout = checkouts.get(token)
        reason = "no_update" if checkout is None else not_due(checkout, now, quiet)
        if reason:
            result.skipped[token] = reason
        else:
            due.append(checkout)
    if not due:
        return result
    with Serving(serving_path) as serving:
        persons = serving.persons(c.customer_ref for c in due if c.customer_ref)
        people = set(persons.values())
        consent = serving.email_consent(people)
        suppressed = store.suppressed(people, "email_marketing", url=url)
        recent = store.messages_since(people, now - FREQUENCY_WINDOW, url=url)
        profiles = serving.esp_profiles(people)
        for checkout in due:
            person = persons.get(checkout.customer_ref or "")
            if person is None:
                reason = "unknown_person"
            elif not consent.get(person):
                reason = "no_consent"
            elif person in suppressed:
                reason = "suppressed"
            elif in_holdout(person, CAMPAIGN_ID, share):
                reason = "holdout"
            elif recent.get(person, 0) >= cap:
                reason = "frequency_cap"
            elif person not in profiles:
                reason = "no_esp_profile"
            else:
                offers = pick_offers(serving, checkout.product_ids, person)
                reason = None if offers else "no_offers"
            if reason:
                result.skipped[checkout.token] = reason
                continue
            recent[person] = recent.get(person, 0) + 1  # two carts of one person in one batch count twice
            result.messages.append(_message(checkout, person, profiles[person], offers, settings, batch_id))
    return result


def _message(checkout: Checkout, person: str, profile: str, offers: list[str], settings: dict, batch_id: str) -> dict:
    code = discount_code(checkout.token)
    percent = settings.get("discount_percent")
    return {
        "idempotency_key": f"{CAMPAIGN_ID}:{checkout.token}",
        "destination": settings.get("destination") or "esp",
        "kind": CAMPAIGN_ID,
        "campaign_id": CAMPAIGN_ID,
        "person_id": person,
        "batch_id": batch_id,
        "trigger_received_at": checkout.last_update_at,
        "payload": {
            "esp_profile_id": profile,
            "template": settings.get("template") or CAMPAIGN_ID,
            "campaign_id": CAMPAIGN_ID,
            "consent": True,  # checked above; the batch's GX check reads it (and re-reads consent to confirm)
            "properties": {
                "checkout_token": checkout.token,
                "offers": [{"product_id": p, "discount_code": code, "discount_percent": percent} for p in offers],
                "cart_product_ids": checkout.product_ids,
            },
        },
    }
