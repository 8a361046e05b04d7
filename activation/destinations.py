"""Where released outbox messages go: the ESP's send API, an ad platform's customer-match files, a signed webhook.

Every destination takes a list of outbox rows (``payload`` decoded) and answers one :class:`Result` per row:
``delivered``, ``retryable`` (try again later: 408/425/429/5xx, a timeout, a reset or truncated answer) or
``permanent`` (the destination refused it for good: another 4xx, a payload it cannot take). Each request carries
the message's idempotency key, so sending again what the destination already accepted (a worker killed between
the destination's answer and the delivery's record) changes nothing there: the key is what makes at-least-once
delivery exactly-once in effect. A result's ``detail`` never holds personal data (no payload, no response body).

- ``esp``: ``POST <JW_ESP_API_URL>/api/messages/`` (Klaviyo-style JSON:API, ``Idempotency-Key`` header) with
  ``JW_ESP_API_TOKEN``; without ``JW_ESP_API_URL`` the demo world's ESP is served in-process, as for ingestion
  (``ingestion.pipelines.source_endpoints``), its receipts kept in its snapshot folder;
- ``ad_audience``: customer-match CSV files (Google Customer Match's hashed columns ``Email,Phone``: SHA-256 of
  the normalised e-mail and E.164 phone) in ``JW_AD_PLATFORM_DIR`` (default ``$JW_DATA_DIR/exports/ad_platform``),
  one file per audience and outbox batch (``<audience>/<batch>.csv``). A delivery merges its rows into the file
  (rows are keyed by their hash pair: the same person twice is one row), written to a temporary name, fsynced
  and renamed over the old one under a file lock: a batch delivered again rewrites the same file with the same
  rows, a crash leaves the old file or the new one, never half of one;
- ``webhook``: ``POST`` of the message as JSON to ``JW_EXPORT_WEBHOOK_URL``, signed with
  ``JW_EXPORT_WEBHOOK_SECRET`` (``X-Journey-Signature: sha256=<hex HMAC-SHA256 of the body>``), with
  ``Idempotency-Key``; the receiver deduplicates by that key.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import hmac
import io
import json
import os
import re
import threading
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

DELIVERED, RETRYABLE, PERMANENT = "delivered", "retryable", "permanent"
RETRYABLE_STATUSES = {408, 425, 429, 500, 502, 503, 504}
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
ESP_REVISION = "2024-10-15"
AD_PLATFORM_HEADER = ("Email", "Phone")  # Google Customer Match, hashed: SHA-256 hex of the normalised values


@dataclass(frozen=True)
class Result:
    outcome: str  # delivered | retryable | permanent
    status_code: int | None = None
    detail: str = ""  # a reason, never personal data
    retry_after: float | None = None  # seconds the destination asked to wait (Retry-After)


class Destination(Protocol):
    name: str

    def deliver(self, messages: list[dict]) -> list[Result]: ...

    def close(self) -> None: ...


class NotConfigured(RuntimeError):
    """A destination without what it needs (a URL, a secret): its messages wait, unclaimed."""


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def classify(status: int, retry_after: str | None = None, what: str = "") -> Result:
    """An HTTP answer as a result: 2xx delivered, 408/425/429/5xx retryable, any other status permanent."""
    detail = f"http {status}" + (f": {what}" if what else "")
    if 200 <= status < 300:
        return Result(DELIVERED, status, detail)
    if status in RETRYABLE_STATUSES or status >= 500:
        return Result(RETRYABLE, status, detail, _retry_after(retry_after))
    return Result(PERMANENT, status, detail)


def _transport_failure(error: Exception) -> Result:
    """No usable answer (refused, reset, timed out, cut short): the destination may or may not have it, so the
    same request goes again later with the same key."""
    return Result(RETRYABLE, None, f"no answer: {type(error).__name__}")


class _Http:
    """POSTs with a keep-alive session per thread (the worker sends a few messages at once)."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self._local = threading.local()
        self._sessions: list = []

    @property
    def session(self):
        import requests

        if getattr(self._local, "session", None) is None:
            self._local.session = requests.Session()
            self._sessions.append(self._local.session)
        return self._local.session

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[Result, dict | None]:
        import requests

        try:
            response = self.session.post(url, data=body, headers=headers, timeout=self.timeout)
            document = response.json() if response.content else None  # a truncated answer fails here: retryable
        except (requests.RequestException, ValueError) as error:
            self.session.close()  # a broken keep-alive connection is not reused
            return _transport_failure(error), None
        code = None
        if isinstance(document, dict) and document.get("errors"):
            first = document["errors"][0]
            code = str(first.get("code")) if isinstance(first, dict) and first.get("code") else None
        return classify(response.status_code, response.headers.get("Retry-After"), code or ""), document

    def close(self) -> None:
        for session in self._sessions:
            session.close()


class EspDestination:
    """The ESP's send API: one request per message, the outbox's idempotency key as ``Idempotency-Key``."""

    name = "esp"

    def __init__(self, base_url: str, token: str, timeout: float = 10.0):
        self.url = base_url.rstrip("/") + "/api/messages/"
        self.headers = {"Authorization": f"Klaviyo-API-Key {token}", "revision": ESP_REVISION,
                        "Content-Type": "application/vnd.api+json", "Accept": "application/vnd.api+json"}  # fmt: skip
        self.http = _Http(timeout)

    def deliver(self, messages: list[dict]) -> list[Result]:
        return [self._one(m) for m in messages]

    def _one(self, message: dict) -> Result:
        payload = message["payload"]
        profile_id = payload.get("esp_profile_id")
        if not profile_id or not payload.get("template"):
            return Result(PERMANENT, None, "payload without esp_profile_id or template")
        properties = dict(payload.get("properties") or {})
        if payload.get("campaign_id"):
            properties.setdefault("campaign_id", payload["campaign_id"])
        body = json.dumps({"data": {"type": "message", "attributes": {
            "profile_id": profile_id, "template": payload["template"], "properties": properties}}},
            separators=(",", ":"), sort_keys=True).encode()  # fmt: skip
        result, document = self.http.post(self.url, body, {**self.headers, "Idempotency-Key": message["idempotency_key"]})
        if result.outcome == DELIVERED:
            receipt = (document or {}).get("data") or {}
            if receipt.get("attributes", {}).get("idempotency_key") != message["idempotency_key"]:
                return Result(RETRYABLE, result.status_code, "answer without this message's receipt")
            seen = "accepted" if result.status_code == 202 else "already accepted (deduplicated)"
            return Result(DELIVERED, result.status_code, f"http {result.status_code}: {seen}, receipt {receipt.get('id')}")
        return result

    def close(self) -> None:
        self.http.close()


class WebhookDestination:
    """A generic signed webhook: the message as JSON, ``X-Journey-Signature: sha256=<hex>``, ``Idempotency-Key``."""

    name = "webhook"

    def __init__(self, url: str, secret: str, timeout: float = 10.0):
        if not url:
            raise NotConfigured("JW_EXPORT_WEBHOOK_URL is not set")
        if not secret:
            raise NotConfigured("JW_EXPORT_WEBHOOK_SECRET is not set: webhooks are never sent unsigned")
        self.url, self.secret = url, secret.encode()
        self.http = _Http(timeout)

    @staticmethod
    def body(message: dict) -> bytes:
        created = message.get("created_at")
        return json.dumps({
            "idempotency_key": message["idempotency_key"], "kind": message.get("kind"),
            "campaign_id": message.get("campaign_id"), "person_id": message.get("person_id"),
            "batch_id": message.get("batch_id"), "created_at": created.isoformat() if created else None,
            "payload": message["payload"],
        }, separators=(",", ":"), sort_keys=True).encode()  # fmt: skip

    def deliver(self, messages: list[dict]) -> list[Result]:
        results = []
        for message in messages:
            body = self.body(message)
            signature = "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()
            headers = {"Content-Type": "application/json", "X-Journey-Signature": signature,
                       "Idempotency-Key": message["idempotency_key"]}  # fmt: skip
            results.append(self.http.post(self.url, body, headers)[0])
        return results

    def close(self) -> None:
        self.http.close()


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "_"


class AdAudienceDestination:
    """Customer-match CSV files, one per audience and outbox batch: only SHA-256 hashes, never a clear value."""

    name = "ad_audience"

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def path(self, audience: str, batch_id: str) -> Path:
        return self.folder / _safe_name(audience) / f"{_safe_name(batch_id)}.csv"

    def deliver(self, messages: list[dict]) -> list[Result]:
        results: list[Result | None] = [None] * len(messages)
        groups: dict[Path, list[int]] = {}
        for i, message in enumerate(messages):
            payload = message["payload"]
            email, phone = payload.get("email_sha256"), payload.get("phone_sha256")
            if not payload.get("audience"):
                results[i] = Result(PERMANENT, None, "payload without audience")
            elif not (email or phone):
                results[i] = Result(PERMANENT, None, "neither email_sha256 nor phone_sha256")
            elif any(v is not None and not (isinstance(v, str) and SHA256_HEX.match(v)) for v in (email, phone)):
                results[i] = Result(PERMANENT, None, "an identifier is not a lower-case SHA-256 hex digest")
            else:
                groups.setdefault(self.path(payload["audience"], message["batch_id"]), []).append(i)
        for path, indexes in groups.items():
            rows = [(messages[i]["payload"].get("email_sha256") or "", messages[i]["payload"].get("phone_sha256") or "")
                    for i in indexes]  # fmt: skip
            try:
                added = self._merge(path, rows)
                result = Result(DELIVERED, None, f"{path.parent.name}/{path.name}: {added} new of {len(rows)} rows")
            except OSError as error:
                result = Result(RETRYABLE, None, f"file not written: {type(error).__name__}")
            for i in indexes:
                results[i] = result
        return [r for r in results if r is not None]

    def _merge(self, path: Path, rows: list[tuple[str, str]]) -> int:
        """``rows`` merged into the file at ``path`` (kept unique, in first-seen order), written atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.parent / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # two workers merging into one file would lose each other's rows
            existing: list[tuple[str, str]] = []
            if path.exists():
                with open(path, newline="") as file:
                    reader = csv.reader(file)
                    next(reader, None)
                    existing = [(r[0], r[1]) for r in reader if len(r) >= 2]
            merged = list(dict.fromkeys(existing + rows))
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(AD_PLATFORM_HEADER)
            writer.writerows(merged)
            temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            with open(temporary, "w", newline="") as file:
                file.write(buffer.getvalue())
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
            directory = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)  # the rename itself survives a power cut
            finally:
                os.close(directory)
            return len(merged) - len(existing)

    def close(self) -> None:
        pass


def ad_platform_dir() -> Path:
    from ingestion.config import data_dir

    explicit = os.environ.get("JW_AD_PLATFORM_DIR")
    return Path(explicit).resolve() if explicit else data_dir() / "exports" / "ad_platform"


def open_destinations(stack: ExitStack, names: tuple[str, ...] = ("esp", "ad_audience", "webhook"),
                      timeout: float = 10.0) -> tuple[dict[str, Destination], dict[str, str]]:  # fmt: skip
    """The destinations that can be used here, and why the others cannot (their messages wait, unclaimed).

    The ESP is ``JW_ESP_API_URL`` (token ``JW_ESP_API_TOKEN``), else the demo world's ESP served for the duration
    of ``stack`` (as ingestion does)."""
    from ingestion import config

    ready: dict[str, Destination] = {}
    missing: dict[str, str] = {}
    for name in names:
        try:
            if name == "esp":
                url, token = os.environ.get("JW_ESP_API_URL"), os.environ.get("JW_ESP_API_TOKEN")
                if not url:
                    api_root = config.source_systems_dir() / "api"
                    if not (api_root / "esp").is_dir():
                        raise NotConfigured("JW_ESP_API_URL is not set and there is no demo world to serve the ESP from")
                    from ingestion.demo_world.api_server import DEMO_TOKENS, serve

                    url, token = stack.enter_context(serve(api_root, systems=("esp",))) + "/esp", DEMO_TOKENS["esp"]
                if not token:
                    from ingestion.demo_world.api_server import DEMO_TOKENS

                    token = DEMO_TOKENS["esp"]
                destination: Destination = EspDestination(url, token, timeout)
            elif name == "ad_audience":
                destination = AdAudienceDestination(ad_platform_dir())
            elif name == "webhook":
                destination = WebhookDestination(os.environ.get("JW_EXPORT_WEBHOOK_URL", ""),
                                                 os.environ.get("JW_EXPORT_WEBHOOK_SECRET", ""), timeout)  # fmt: skip
            else:
                raise NotConfigured(f"unknown destination {name!r}")
        except NotConfigured as reason:
            missing[name] = str(reason)
            continue
        stack.callback(destination.close)
        ready[name] = destination
    return ready, missing
