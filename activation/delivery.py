"""The delivery worker (``journey deliver``): sends released outbox messages, once in effect.

A pass claims a batch of released, unsettled, due messages (a lease: ``store.claim``), checks each again at send
time, sends the rest with their idempotency keys (``activation.destinations``; a few requests in flight at once,
``Settings.concurrency``) and records every attempt in ``exports.deliveries`` with the outbox row settled or
scheduled again, in one transaction per message.

At-least-once plus the key: a worker killed after the destination accepted a message and before its record leaves
the message claimed until the lease runs out; the next worker sends it again with the same key and the destination
answers with the receipt it already has. Nothing is dropped (an unsettled message is always claimed again) and
nothing is sent twice in effect.

Checked again at send time, because planning ran earlier on an older serving copy (a message that fails a check
is settled ``suppressed`` with the reason, never sent):
- the person's consent in the current serving copy (``marts.customer_360.consent_email_marketing`` for the ESP and
  webhooks, ``consent_ad_audiences`` for ad audiences); a person no longer there (erased) gets nothing;
- ``exports.suppressions`` (the purpose's, or ``all``: an erasure by ``journey forget``);
- an ESP ``profile.unsubscribed`` webhook in the inbox for the message's ``esp_profile_id`` received after the
  message was created or after the serving copy was published, whichever is earlier (the copy's consent is as
  old as its build: an unsubscribe after it is not in it);
- the campaign's holdout (``activation.holdout``, the campaign's ``holdout_share``, default 10 %): a holdout
  member forced into the outbox is still never sent.

Retryable failures wait ``backoff_seconds * 2**(attempt-1)`` (capped, with full jitter, at least the
destination's ``Retry-After``) and are settled ``failed`` after ``max_attempts``; a 429 also pauses the
destination for the rest of the batch (the rest are left for later without counting an attempt).
"""

from __future__ import annotations

import logging
import os
import random
import signal
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import sqlalchemy as sa

from . import store
from .destinations import DELIVERED, PERMANENT, Destination, Result, open_destinations
from .holdout import DEFAULT_HOLDOUT_SHARE, in_holdout

log = logging.getLogger(__name__)
UTC = timezone.utc
CONSENT_COLUMN = {"esp": "consent_email_marketing", "webhook": "consent_email_marketing", "ad_audience": "consent_ad_audiences"}
PURPOSE = {"esp": "email_marketing", "webhook": "email_marketing", "ad_audience": "ad_audience"}


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


@dataclass
class Settings:
    batch_size: int = 100
    max_attempts: int = 8
    lease_seconds: float = field(default_factory=lambda: _env_float("JW_DELIVERY_LEASE_SECONDS", 60.0))
    backoff_seconds: float = field(default_factory=lambda: _env_float("JW_DELIVERY_BACKOFF_SECONDS", 2.0))
    backoff_cap_seconds: float = field(default_factory=lambda: _env_float("JW_DELIVERY_BACKOFF_CAP_SECONDS", 600.0))
    poll_seconds: float = field(default_factory=lambda: _env_float("JW_DELIVERY_POLL_SECONDS", 0.5))
    timeout_seconds: float = 10.0
    concurrency: int = 4  # requests in flight at once per destination (each one a message)


@dataclass
class Tally:
    delivered: int = 0
    suppressed: int = 0
    failed: int = 0  # settled failed (permanent, or out of attempts)
    retrying: int = 0  # a retryable failure: scheduled again
    deferred: int = 0  # not tried (the destination paused after a 429)

    def add(self, other: "Tally") -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def __str__(self) -> str:
        return ", ".join(f"{n} {getattr(self, n)}" for n in vars(self))


class NoServingCopy(RuntimeError):
    """Consent cannot be checked again without the serving copy: nothing is sent (and nothing lost)."""


def backoff(attempt: int, settings: Settings, retry_after: float | None = None, rng: random.Random | None = None) -> float:
    """Seconds before attempt ``attempt + 1``: exponential, capped, full jitter in its upper half, at least the
    destination's ``Retry-After``."""
    ceiling = min(settings.backoff_cap_seconds, settings.backoff_seconds * 2 ** max(0, attempt - 1))
    delay = ceiling * (0.5 + 0.5 * (rng or random).random())
    return max(delay, retry_after or 0.0)


def campaign_share(campaign_id: str | None) -> float:
    """The campaign's holdout share from its definition (``activation.definitions``), else the default."""
    try:
        from . import definitions  # the campaigns' YAML (dbt_project/models/marts/activation)

        campaign = definitions.campaigns().get(campaign_id or "") or {}
        share = campaign.get("holdout_share")
        return DEFAULT_HOLDOUT_SHARE if share is None else float(share)
    except Exception:  # no definitions in this checkout, or none readable: the default share holds
        return DEFAULT_HOLDOUT_SHARE


def serving_consent(person_ids: list[str], serving: Path | None = None) -> dict[str, dict]:
    """Consent columns of ``marts.customer_360`` in the serving copy by person (absent: not in the copy), and the
    copy's publication time (its file's modification time) under the key ``None``."""
    import duckdb

    from ingestion.config import serving_path

    path = Path(serving or serving_path())
    if not path.exists():
        raise NoServingCopy(f"no serving copy at {path}: consent cannot be checked again, nothing is sent")
    found: dict = {None: {"published_at": datetime.fromtimestamp(path.stat().st_mtime, UTC)}}
    if not person_ids:
        return found
    with duckdb.connect(str(path), read_only=True) as con:
        marks = ", ".join("?" for _ in person_ids)
        for person_id, email, ads in con.execute(
            f"select person_id, consent_email_marketing, consent_ad_audiences from marts.customer_360 "
            f"where person_id in ({marks})", person_ids,
        ).fetchall():  # fmt: skip
            found[person_id] = {"consent_email_marketing": email, "consent_ad_audiences": ads}
    return found


def suppression_reasons(messages: list[dict], serving: Path | None = None, url: str | None = None) -> dict[int, str]:
    """message_id -> why it must not be sent (see the module docstring), for those of ``messages`` that must not."""
    people = sorted({m["person_id"] for m in messages if m.get("person_id")})
    consent = serving_consent(people, serving)
    published_at = consent[None]["published_at"]
    suppressed = {purpose: store.suppressed(people, purpose, url=url) for purpose in set(PURPOSE.values())}
    profiles = [m["payload"].get("esp_profile_id") for m in messages if isinstance(m["payload"], dict)]
    unsubscribed = store.unsubscribes([p for p in profiles if p], url=url)
    shares = {c: campaign_share(c) for c in {m.get("campaign_id") for m in messages} if c}  # the YAML read once a batch
    reasons: dict[int, str] = {}
    for message in messages:
        destination, person = message["destination"], message.get("person_id")
        profile = message["payload"].get("esp_profile_id") if isinstance(message["payload"], dict) else None
        if not person:
            reasons[message["message_id"]] = "no_person"
        elif person in suppressed[PURPOSE.get(destination, "email_marketing")]:
            reasons[message["message_id"]] = "suppressed"
        elif person not in consent:
            reasons[message["message_id"]] = "not_in_serving_copy"
        elif consent[person].get(CONSENT_COLUMN.get(destination, "consent_email_marketing")) is not True:
            reasons[message["message_id"]] = "no_consent"
        elif profile in unsubscribed and unsubscribed[profile] >= min(message["created_at"], published_at):
            reasons[message["message_id"]] = "unsubscribed"
        elif message.get("campaign_id") and in_holdout(person, message["campaign_id"], shares[message["campaign_id"]]):
            reasons[message["message_id"]] = "holdout"
    return reasons


class Worker:
    """Claims and sends batches; ``destinations`` by name (``open_destinations``), ``settings`` its knobs."""

    def __init__(self, destinations: dict[str, Destination], settings: Settings | None = None, url: str | None = None,
                 name: str | None = None, serving: Path | None = None):  # fmt: skip
        self.destinations, self.settings, self.url, self.serving = destinations, settings or Settings(), url, serving
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.stopping = threading.Event()
        self._rng = random.Random()
        self._pool: ThreadPoolExecutor | None = None

    def run_once(self) -> Tally:
        """Claim and send batches until nothing is due now (retries scheduled later are left for later)."""
        total = Tally()
        while not self.stopping.is_set():
            tally, claimed = self.pass_once()
            total.add(tally)
            if not claimed or claimed == tally.deferred:
                break
        return total

    def follow(self, on_pass: Callable[[Tally], None] | None = None) -> Tally:
        """Claim and send until stopped (SIGTERM, SIGINT or ``stopping``), polling when nothing is due."""
        total = Tally()
        while not self.stopping.is_set():
            try:
                tally, claimed = self.pass_once()
            except NoServingCopy as reason:
                log.warning("%s", reason)
                tally, claimed = Tally(), 0
            except sa.exc.OperationalError as error:  # the store away for a moment (PostgreSQL restarting): wait
                log.warning("activation store not reachable (%s): trying again", type(error.orig).__name__)
                self.stopping.wait(min(30.0, self.settings.poll_seconds * 20))
                continue
            total.add(tally)
            if claimed and on_pass:
                on_pass(tally)
            if not claimed or claimed == tally.deferred:
                self.stopping.wait(self.settings.poll_seconds)
        return total

    def pass_once(self) -> tuple[Tally, int]:
        """One batch: claimed, checked, sent, recorded. Returns (tally, messages claimed)."""
        settings = self.settings
        messages = store.claim(self.name, settings.batch_size, settings.lease_seconds, list(self.destinations), url=self.url)
        tally = Tally()
        if not messages:
            return tally, 0
        try:
            reasons = suppression_reasons(messages, self.serving, self.url)
        except NoServingCopy:
            store.renew(self.name, [m["message_id"] for m in messages], 0, url=self.url)  # let go at once
            raise
        lease_from = time.monotonic()
        paused_until: dict[str, float] = {}
        pending: dict[str, list[dict]] = {}
        for message in messages:
            reason = reasons.get(message["message_id"])
            if reason:
                store.record_attempt(message, "suppressed", None, reason, outcome="suppressed", url=self.url)
                tally.suppressed += 1
            else:
                pending.setdefault(message["destination"], []).append(message)
        for name, group in pending.items():
            destination = self.destinations[name]
            # ad audiences go as one file write per batch; the others a few requests at a time
            width = max(1, settings.concurrency)
            chunks = [group] if name == "ad_audience" else [group[i:i + width] for i in range(0, len(group), width)]
            for chunk in chunks:
                if self.stopping.is_set() and name != "ad_audience":
                    store.renew(self.name, [m["message_id"] for m in chunk], 0, url=self.url)  # for the next worker
                    continue
                if time.monotonic() - lease_from > settings.lease_seconds / 2:  # a long batch keeps its claim
                    store.renew(self.name, [m["message_id"] for ms in pending.values() for m in ms], settings.lease_seconds, url=self.url)
                    lease_from = time.monotonic()
                if paused_until.get(name, 0) > time.monotonic():
                    for message in chunk:
                        self._defer(message, paused_until[name] - time.monotonic())
                        tally.deferred += 1
                    continue
                for message, result in zip(chunk, self._deliver(destination, chunk)):
                    self._record(message, result, tally)
                    if result.status_code == 429:
                        paused_until[name] = time.monotonic() + (result.retry_after or settings.backoff_seconds)
        return tally, len(messages)

    def _deliver(self, destination: Destination, chunk: list[dict]) -> list[Result]:
        """``chunk`` sent: one call for an ad audience's file, one request per message in parallel otherwise."""
        if destination.name == "ad_audience" or len(chunk) == 1:
            return destination.deliver(chunk)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max(1, self.settings.concurrency), thread_name_prefix="deliver")
        return list(self._pool.map(lambda message: destination.deliver([message])[0], chunk))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def _defer(self, message: dict, seconds: float) -> None:
        """Leave a message for later without an attempt: its claim goes, it is due again in ``seconds``."""
        with store.engine(self.url).begin() as conn:
            conn.execute(store.outbox.update().where(
                store.outbox.c.message_id == message["message_id"], store.outbox.c.claimed_by == self.name,
            ).values(claimed_by=None, claimed_until=None, next_attempt_at=store.now() + timedelta(seconds=seconds)))  # fmt: skip

    def _record(self, message: dict, result: Result, tally: Tally) -> None:
        settings = self.settings
        attempt = int(message.get("attempts") or 0) + 1
        if result.outcome == DELIVERED:
            store.record_attempt(message, "delivered", result.status_code, result.detail, outcome="delivered", url=self.url)
            tally.delivered += 1
        elif result.outcome == PERMANENT and message["destination"] == "esp" and result.detail.endswith("unsubscribed"):
            # the ESP knows of an unsubscribe the warehouse does not yet: it is one
            store.record_attempt(message, "suppressed", result.status_code, "unsubscribed_at_esp", outcome="suppressed", url=self.url)
            tally.suppressed += 1
        elif result.outcome == PERMANENT or attempt >= settings.max_attempts:
            detail = result.detail if result.outcome == PERMANENT else f"{result.detail}; gave up after {attempt} attempts"
            store.record_attempt(message, "failed", result.status_code, detail, outcome="failed", url=self.url)
            tally.failed += 1
        else:
            delay = backoff(attempt, settings, result.retry_after, self._rng)
            store.record_attempt(message, "failed", result.status_code, f"{result.detail}; retry in {delay:.1f} s",
                                 outcome=None, next_attempt_at=store.now() + timedelta(seconds=delay), url=self.url)  # fmt: skip
            tally.retrying += 1


def deliver(mode: str = "once", settings: Settings | None = None, echo: Callable[[str], None] = print,
            url: str | None = None) -> Tally:  # fmt: skip
    """``journey deliver``: ``once`` (what is due now) or ``follow`` (until SIGTERM/SIGINT)."""
    with ExitStack() as stack:
        destinations, missing = open_destinations(stack, timeout=(settings or Settings()).timeout_seconds)
        for name, reason in missing.items():
            echo(f"destination {name} not available ({reason}): its messages wait")
        worker = Worker(destinations, settings, url=url)
        stack.callback(worker.close)

        def stop(*_):
            worker.stopping.set()

        previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            echo(f"delivery worker {worker.name}: destinations {', '.join(destinations) or 'none'}")
            if mode == "follow":
                return worker.follow(on_pass=lambda tally: echo(f"batch: {tally}"))
            return worker.run_once()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
