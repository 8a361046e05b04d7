"""The e-mail service provider as Klaviyo's JSON:API speaks it (revision 2024-10-15), under ``/esp``.

- ``GET /api/campaigns``, ``/api/campaign-messages``, ``/api/profiles``, ``/api/events``, ``/api/metrics``;
- headers: ``Authorization: Klaviyo-API-Key <key>`` (401 without it or with a wrong one; the key is never
  echoed) and ``revision: YYYY-MM-DD`` (400 without it);
- envelope: ``{"data": [{"type", "id", "attributes", "relationships"}], "included": [...], "links": {"self",
  "next", "prev"}}``; ``links.next`` is an absolute URL carrying ``page[cursor]`` (and every other parameter
  of the request), ``null`` on the last page; ``page[size]`` (1..max, default 100);
- ``filter`` in Klaviyo's syntax: ``greater-or-equal(datetime,2026-07-01T00:00:00Z)``, ``greater-than``,
  ``less-than``, ``less-or-equal``, ``equals``, combined with ``and(...)`` or commas, on the fields each
  collection allows (``datetime`` for events, ``updated``/``created`` for profiles, ``updated_at``/
  ``created_at`` and the required ``messages.channel`` for campaigns). A malformed filter is a 400 with a
  JSON:API ``errors`` array naming the parameter, never a silently ignored one;
- ``sort=<field>`` or ``-<field>`` on the cursor field; rows are walked in (field, id) order, so a page
  boundary never splits or repeats rows that share a timestamp. A row whose own cursor field is not a date
  (a broken record edited into a snapshot) is served first on every walk, whatever the filter: the client
  must see it to quarantine it;
- ``include=metric,profile`` (events), ``include=campaign-messages`` (campaigns): the related resources in
  ``included``; ``additional-fields[profile]=subscriptions``: the consent of a profile;
- a per-key rate limit (a leaky bucket: ``burst`` requests, refilled at ``per_second``; generous by default):
  beyond it, 429 with ``Retry-After`` (seconds) and a JSON:API ``throttled`` error;
- the send API (the activation's delivery worker is its client): ``POST /api/messages/`` with a JSON:API body
  ``{"data": {"type": "message", "attributes": {"profile_id", "template", "properties"}}}`` and an
  ``Idempotency-Key`` header (400 without). The first request with a key is accepted: 202 and a receipt
  ``{"data": {"type": "message-receipt", "id", "attributes": {"idempotency_key", "received_at", ...}}}``;
  the same key again answers 200 with the SAME receipt and sends nothing (its ``replays`` counts such
  requests); the same key with another body is a 409. A profile unsubscribed from e-mail marketing is refused
  (422 ``unsubscribed``), an unknown one is a 404. Receipts are kept in ``<root>/receipts.sqlite`` (committed
  before the answer: a receipt survives a restart, and a crash after the commit is a lost answer, which the
  client's retry with the same key recovers). ``GET /api/messages/`` lists them (``idempotency_key=`` for
  one, ``page[size]``, ``page[cursor]``, ``links.next``).

The rows are the demo world's snapshot files (``<root>/<collection>.json``, JSON:API resource objects).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import hmac
import itertools
import json
import math
import re
import sqlite3
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

from ..api_server import DEMO_TOKENS, LeakyBucket, Request, Response, Snapshots

REVISION = "2024-10-15"
DEFAULT_PAGE_SIZE = 100
JSONAPI: dict[str, str] = {}  # the server sends JSON; Klaviyo labels it application/vnd.api+json


class Collection:
    def __init__(self, snapshot: str, kind: str, cursor: str, filters: tuple[str, ...], includes: dict[str, str] | None = None,
                 required: tuple[str, ...] = (), additional: tuple[str, ...] = ()):
        self.snapshot, self.kind, self.cursor, self.filters = snapshot, kind, cursor, filters
        self.includes = includes or {}  # include name -> snapshot of the related resources
        self.required = required  # filter fields a request must give (Klaviyo: campaigns need messages.channel)
        self.additional = additional  # attributes served only when asked for with additional-fields[<type>]


COLLECTIONS = {
    "events": Collection("events", "event", "datetime", ("datetime",), {"metric": "metrics", "profile": "profiles"}),
    "profiles": Collection("profiles", "profile", "updated", ("updated", "created"), additional=("subscriptions",)),
    "campaigns": Collection(
        "campaigns", "campaign", "updated_at", ("updated_at", "created_at", "messages.channel"),
        {"campaign-messages": "campaign_messages"}, required=("messages.channel",),
    ),
    "campaign-messages": Collection("campaign_messages", "campaign-message", "updated_at", ("updated_at",)),
    "metrics": Collection("metrics", "metric", "updated", ()),
}
OPERATORS = ("greater-or-equal", "greater-than", "less-or-equal", "less-than", "equals")


class BadRequest(ValueError):
    def __init__(self, detail: str, parameter: str | None = None):
        super().__init__(detail)
        self.parameter = parameter


def errors(status: int, code: str, title: str, detail: str, parameter: str | None = None, **headers: str) -> Response:
    error = {"id": str(uuid.uuid4()), "status": status, "code": code, "title": title, "detail": detail}
    if parameter:
        error["source"] = {"parameter": parameter}
    return Response(status, {"errors": [error]}, {**JSONAPI, **headers})


def parse_time(text: str) -> datetime:
    """A Klaviyo datetime: ISO-8601; without a zone it is UTC (as Klaviyo takes it)."""
    value = text.strip()
    parsed = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value)
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def _split_arguments(text: str) -> list[str]:
    """Top-level comma-separated parts (commas inside parentheses or quotes stay)."""
    parts, depth, quote, current = [], 0, None, []
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise BadRequest("unbalanced parentheses in filter", "filter")
        elif char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    if quote or depth:
        raise BadRequest("unbalanced quotes or parentheses in filter", "filter")
    parts.append("".join(current))
    return [p.strip() for p in parts]


_CALL = re.compile(r"^([a-z-]+)\((.*)\)$", re.S)


def parse_filter(text: str, collection: Collection) -> list[tuple[str, str, object]]:
    """``filter`` as a list of (operator, field, value) conditions that must all hold."""
    conditions = []
    for part in _split_arguments(text):
        match = _CALL.match(part)
        if not match:
            raise BadRequest("invalid filter expression: expected <operator>(<field>,<value>)", "filter")
        operator, arguments = match.group(1), _split_arguments(match.group(2))
        if operator == "and":
            for argument in arguments:
                conditions.extend(parse_filter(argument, collection))
            continue
        if operator not in OPERATORS:
            raise BadRequest(f"operator '{operator}' is not supported", "filter")
        if len(arguments) != 2:
            raise BadRequest(f"{operator} takes a field and a value", "filter")
        field, raw = arguments
        if field not in collection.filters:
            raise BadRequest(f"'{field}' is not a filterable field of {collection.kind}", "filter")
        if raw[:1] in "'\"" and raw[-1:] == raw[:1] and len(raw) >= 2:
            value: object = raw[1:-1]
        else:
            try:
                value = parse_time(raw)
            except ValueError:
                raise BadRequest(f"'{field}' takes a datetime (ISO-8601)", "filter") from None
        if isinstance(value, str) and operator != "equals":
            raise BadRequest(f"{operator} takes a datetime", "filter")
        conditions.append((operator, field, value))
    return conditions


def _holds(operator: str, actual, value) -> bool:
    return {
        "equals": actual == value,
        "greater-or-equal": actual >= value,
        "greater-than": actual > value,
        "less-or-equal": actual <= value,
        "less-than": actual < value,
    }[operator]


def _matches(row: dict, conditions: list[tuple[str, str, object]], snapshots: Snapshots) -> bool:
    for operator, field, value in conditions:
        if field == "messages.channel":  # the channel of the campaign's messages
            messages = {m["id"]: m for m in snapshots.get("campaign_messages") or []}
            linkage = ((row.get("relationships") or {}).get("campaign-messages") or {}).get("data") or []
            channels = {messages.get(ref.get("id"), {}).get("attributes", {}).get("channel") for ref in linkage}
            actual = value if value in channels else next(iter(channels), None)
        else:
            raw = row["attributes"].get(field)
            try:
                actual = parse_time(raw) if isinstance(value, datetime) else raw
            except (TypeError, ValueError):
                continue  # a row whose own date is broken is shown, not hidden: the client must judge it
        if actual is None:
            return False
        if operator == "equals" and actual != value:
            return False
        if operator == "greater-or-equal" and not actual >= value:
            return False
        if operator == "greater-than" and not actual > value:
            return False
        if operator == "less-or-equal" and not actual <= value:
            return False
        if operator == "less-than" and not actual < value:
            return False
    return True


def _stamp(value: datetime) -> str:
    """A UTC instant as fixed-width text: compares as the instant does."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _sort_key(cursor: str):
    def key(row: dict) -> tuple[str, str]:
        raw = (row.get("attributes") or {}).get(cursor)
        try:
            stamp = _stamp(parse_time(raw)) if raw else ""
        except (TypeError, ValueError, AttributeError):
            stamp = ""  # broken dates sort first and are always served: the client must judge them
        return stamp, str(row.get("id"))

    return key


def _encode(position: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(position)).encode()).decode().rstrip("=")


def _decode(value: str) -> tuple[str, str]:
    try:
        stamp, row_id = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        return str(stamp), str(row_id)
    except (ValueError, TypeError, binascii.Error):
        raise BadRequest("page[cursor] is not a cursor this API issued", "page[cursor]") from None


# --- the send API's receipts ------------------------------------------------------------------------------------


class Receipts:
    """Durable receipts of accepted messages, one per idempotency key (SQLite, synchronous commits)."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            db.execute("pragma journal_mode = wal")
            db.execute("pragma synchronous = full")
            db.execute(
                "create table if not exists receipts (seq integer primary key autoincrement, id text not null unique, "
                "idempotency_key text not null unique, body_sha256 text not null, profile_id text not null, "
                "template text not null, properties text not null, received_at text not null, "
                "replays integer not null default 0)"
            )
            self._db = db
        return self._db

    def accept(self, key: str, body_sha256: str, profile_id: str, template: str, properties: dict) -> tuple[dict, bool]:
        """(receipt, new): the receipt of ``key``, written now unless it exists (then ``replays`` grows)."""
        with self._lock:
            db = self._connection()
            db.execute("begin immediate")
            try:
                row = db.execute("select * from receipts where idempotency_key = ?", [key]).fetchone()
                if row is None:
                    received = datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")
                    db.execute(
                        "insert into receipts (id, idempotency_key, body_sha256, profile_id, template, properties, "
                        "received_at) values (?, ?, ?, ?, ?, ?, ?)",
                        [f"msg_{uuid.uuid4().hex}", key, body_sha256, profile_id, template,
                         json.dumps(properties, sort_keys=True), received],
                    )  # fmt: skip
                    new = True
                else:
                    if row[3] == body_sha256:
                        db.execute("update receipts set replays = replays + 1 where idempotency_key = ?", [key])
                    new = False
                row = db.execute("select * from receipts where idempotency_key = ?", [key]).fetchone()
                db.execute("commit")
            except BaseException:
                db.execute("rollback")
                raise
        return self._row(db, row), new

    @staticmethod
    def _row(db: sqlite3.Connection, row) -> dict:
        names = [d[1] for d in db.execute("pragma table_info(receipts)")]
        return dict(zip(names, row))

    def find(self, key: str | None, after: int, size: int) -> list[dict]:
        with self._lock:
            db = self._connection()
            if key is not None:
                rows = db.execute("select * from receipts where idempotency_key = ? and seq > ?", [key, after]).fetchall()
            else:
                rows = db.execute("select * from receipts where seq > ? order by seq limit ?", [after, size]).fetchall()
            return [self._row(db, r) for r in rows]


def _receipt(row: dict, base_url: str) -> dict:
    return {
        "type": "message-receipt",
        "id": row["id"],
        "attributes": {
            "idempotency_key": row["idempotency_key"],
            "received_at": row["received_at"],
            "profile_id": row["profile_id"],
            "template": row["template"],
            "replays": row["replays"],
        },
        "links": {"self": f"{base_url}/api/messages/?" + urlencode({"idempotency_key": row["idempotency_key"]})},
    }


class App:
    """Klaviyo's JSON:API over the ESP snapshots. ``token``: the private API key it accepts; ``burst`` and
    ``per_second``: the rate limit per key; ``max_page_size``: the largest ``page[size]``."""

    def __init__(self, root: Path, *, token: str = DEMO_TOKENS["esp"], burst: int = 350, per_second: float = 350.0,
                 max_page_size: int = 1000):
        self.snapshots = Snapshots(root)
        self.token = token
        self.burst, self.per_second = burst, per_second
        self.max_page_size = max_page_size
        self._buckets: dict[str, LeakyBucket] = {}
        self._keys: dict[str, tuple[list[dict], list[tuple[str, str]]]] = {}
        self._lock = threading.Lock()
        self.throttled = 0  # 429s answered (for tests)
        self.receipts = Receipts(root / "receipts.sqlite")
        self._profiles: tuple[list[dict] | None, dict[str, dict]] = (None, {})

    def _bucket(self, key: str) -> LeakyBucket:
        with self._lock:
            return self._buckets.setdefault(key, LeakyBucket(self.burst, self.per_second))

    def handle(self, request: Request) -> Response:
        is_messages = request.path.rstrip("/") == "/api/messages"
        if request.method != "GET" and not (is_messages and request.method == "POST"):
            return errors(405, "method_not_allowed", "Method not allowed.", "only GET is served here (and POST to /api/messages/)")
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme != "Klaviyo-API-Key" or not hmac.compare_digest(key.strip().encode(), self.token.encode()):
            return errors(401, "not_authenticated", "Authentication credentials were not provided.",
                          "Missing or invalid private key.")
        revision = request.headers.get("revision")
        if not revision:
            return errors(400, "missing_revision", "Missing revision header.", "A revision header is required.")
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}(\.pre)?", revision.strip()):
            return errors(400, "invalid_revision", "Invalid revision header.", "revision must be a date (YYYY-MM-DD).")
        allowed, _ = self._bucket(key.strip()).take()
        if not allowed:
            with self._lock:
                self.throttled += 1
            wait = max(1, math.ceil(1 / self.per_second))
            return errors(429, "throttled", "Request was throttled.", f"Expected available in {wait} second(s).",
                          **{"Retry-After": str(wait)})
        path = request.path.rstrip("/")
        if is_messages:
            try:
                return self._send(request) if request.method == "POST" else self._receipts(request)
            except BadRequest as exc:
                return errors(400, "invalid", "Invalid input.", str(exc), exc.parameter)
        if not path.startswith("/api/") or path[5:] not in COLLECTIONS:
            return errors(404, "not_found", "Not found.", f"no resource at {path or '/'}")
        try:
            return self._list(request, COLLECTIONS[path[5:]], path[5:])
        except BadRequest as exc:
            return errors(400, "invalid", "Invalid input.", str(exc), exc.parameter)

    def _page_size(self, query: dict[str, str]) -> int:
        """``page[size]``, checked: an integer from 1 to the largest page (receipts and collections alike)."""
        try:
            size = int(query.get("page[size]", DEFAULT_PAGE_SIZE))
        except ValueError:
            raise BadRequest("page[size] must be an integer", "page[size]") from None
        if not 1 <= size <= self.max_page_size:
            raise BadRequest(f"page[size] must be between 1 and {self.max_page_size}", "page[size]")
        return size

    def _list(self, request: Request, collection: Collection, name: str) -> Response:
        query = request.query
        known = {"filter", "sort", "include", "page[cursor]", "page[size]", f"additional-fields[{collection.kind}]",
                 *(f"fields[{t}]" for t in ("event", "profile", "metric", "campaign", "campaign-message"))}
        for parameter in query:
            if parameter not in known:
                raise BadRequest(f"'{parameter}' is not a valid query parameter", parameter)
        size = self._page_size(query)
        conditions = parse_filter(query["filter"], collection) if query.get("filter") else []
        missing = [f for f in collection.required if not any(c[1] == f and c[0] == "equals" for c in conditions)]
        if missing:
            raise BadRequest(f"filter must include equals({missing[0]},...)", "filter")
        sort = query.get("sort", collection.cursor)
        if sort.lstrip("-") != collection.cursor:
            raise BadRequest(f"sort on '{sort.lstrip('-')}' is not supported (only {collection.cursor})", "sort")
        descending = sort.startswith("-")
        includes = [i for i in query.get("include", "").split(",") if i]
        for include in includes:
            if include not in collection.includes:
                raise BadRequest(f"'{include}' is not a valid include for {collection.kind}", "include")
        additional = [a for a in query.get(f"additional-fields[{collection.kind}]", "").split(",") if a]
        for field in additional:
            if field not in collection.additional:
                raise BadRequest(f"'{field}' is not an additional field of {collection.kind}", f"additional-fields[{collection.kind}]")

        key = _sort_key(collection.cursor)
        rows, keys = self._ordered(collection, key)
        after = _decode(query["page[cursor]"]) if query.get("page[cursor]") else None
        # conditions on the cursor field are answered from the sorted keys; the others row by row
        bounds = [c for c in conditions if c[1] == collection.cursor]
        others = [c for c in conditions if c[1] != collection.cursor]
        broken = bisect.bisect_left(keys, ("\x00", ""))  # rows whose cursor field is not a date: first
        if descending:
            indexes = (i for i in range(len(rows) - 1, -1, -1) if after is None or keys[i] < after)
        else:
            start = broken
            for operator, _, value in bounds:
                if operator == "greater-or-equal":
                    start = max(start, bisect.bisect_left(keys, (_stamp(value), "")))
                elif operator == "greater-than":
                    start = max(start, bisect.bisect_right(keys, (_stamp(value), "\U0010ffff")))
            if after is not None:
                start = max(start, bisect.bisect_right(keys, after))
            first = bisect.bisect_right(keys, after) if after is not None else 0
            indexes = itertools.chain(range(min(first, broken), broken), range(start, len(rows)))
        data: list[dict] = []
        more = False
        for index in indexes:
            stamp = keys[index][0]
            if stamp and not all(_holds(op, stamp, _stamp(v)) for op, _, v in bounds):
                continue
            if others and not _matches(rows[index], others, self.snapshots):
                continue
            if len(data) == size:
                more = True
                break
            data.append(rows[index])
        self_url = f"{request.base_url}/api/{name}"
        params = {k: v for k, v in query.items() if k != "page[cursor]"}
        body = {
            "data": [self._resource(row, collection, additional, request.base_url, name) for row in data],
            "links": {
                "self": self_url + ("?" + urlencode(query) if query else ""),
                "next": self_url + "?" + urlencode({**params, "page[cursor]": _encode(key(data[-1]))}) if more else None,
                "prev": None,
            },
        }
        if includes:
            body["included"] = self._included(data, collection, includes, request.base_url)
        return Response(200, body, dict(JSONAPI))

    def _ordered(self, collection: Collection, key) -> tuple[list[dict], list[tuple[str, str]]]:
        """The rows of a collection in (cursor field, id) order, and their keys (computed once per file version)."""
        rows = self.snapshots.get(collection.snapshot, sort_key=key) or []
        with self._lock:
            cached = self._keys.get(collection.snapshot)
            if cached is None or cached[0] is not rows:
                cached = (rows, [key(row) for row in rows])
                self._keys[collection.snapshot] = cached
        return rows, cached[1]

    def _resource(self, row: dict, collection: Collection, additional: list[str], base_url: str, name: str) -> dict:
        attributes = row.get("attributes")
        if isinstance(attributes, dict) and any(a not in additional and a in attributes for a in collection.additional):
            attributes = {k: v for k, v in attributes.items() if k not in collection.additional or k in additional}
        resource = {"type": row.get("type", collection.kind), "id": row.get("id"), "attributes": attributes}
        if "relationships" in row:
            resource["relationships"] = row["relationships"]
        resource["links"] = {"self": f"{base_url}/api/{name}/{row.get('id')}/"}
        return resource

    def _included(self, data: list[dict], collection: Collection, includes: list[str], base_url: str) -> list[dict]:
        included, seen = [], set()
        for include in includes:
            related = {r["id"]: r for r in self.snapshots.get(collection.includes[include]) or []}
            for row in data:
                linkage = ((row.get("relationships") or {}).get(include) or {}).get("data")
                for ref in linkage if isinstance(linkage, list) else [linkage] if linkage else []:
                    target = related.get(ref.get("id"))
                    if target is not None and (target["type"], target["id"]) not in seen:
                        seen.add((target["type"], target["id"]))
                        included.append({k: v for k, v in target.items() if k != "links"})
        return included

    # --- the send API ---------------------------------------------------------------------------------------

    def _send(self, request: Request) -> Response:
        key = (request.headers.get("idempotency-key") or "").strip()
        if not key:
            return errors(400, "missing_idempotency_key", "Missing Idempotency-Key header.",
                          "Sending requires an Idempotency-Key header (a retry with the same key sends nothing twice).")
        if len(key) > 255:
            raise BadRequest("Idempotency-Key is longer than 255 characters")
        try:
            document = json.loads(request.body or b"null")
            data = document["data"]
            if data.get("type") != "message":
                raise BadRequest("data.type must be 'message'", "data.type")
            attributes = data["attributes"]
            profile_id, template = attributes["profile_id"], attributes["template"]
            properties = attributes.get("properties") or {}
        except BadRequest:
            raise
        except (ValueError, KeyError, TypeError, AttributeError):
            raise BadRequest("body must be {\"data\": {\"type\": \"message\", \"attributes\": {\"profile_id\", \"template\", "
                             "\"properties\"}}}") from None
        if not isinstance(profile_id, str) or not isinstance(template, str) or not isinstance(properties, dict):
            raise BadRequest("profile_id and template are strings, properties an object")
        digest = hashlib.sha256(json.dumps([profile_id, template, properties], sort_keys=True).encode()).hexdigest()
        known = self.receipts.find(key, 0, 1)
        if not known:  # a replay answers its receipt whatever became of the profile since
            profile = self._profile(profile_id)
            if profile is None:
                return errors(404, "not_found", "Not found.", "no such profile")
            marketing = (((profile.get("attributes") or {}).get("subscriptions") or {}).get("email") or {}).get("marketing") or {}
            if marketing.get("consent") != "SUBSCRIBED":
                return errors(422, "unsubscribed", "Profile cannot receive e-mail.", "the profile is not subscribed to e-mail marketing")
        row, new = self.receipts.accept(key, digest, profile_id, template, properties)
        if row["body_sha256"] != digest:
            return errors(409, "idempotency_key_reused", "Idempotency key reused.",
                          "this Idempotency-Key was used with another message: nothing sent")
        return Response(202 if new else 200, {"data": _receipt(row, request.base_url)}, dict(JSONAPI))


    def _receipts(self, request: Request) -> Response:
        query = request.query
        for parameter in query:
            if parameter not in ("idempotency_key", "page[size]", "page[cursor]"):
                raise BadRequest(f"'{parameter}' is not a valid query parameter", parameter)
        size = self._page_size(query)
        after = 0
        if query.get("page[cursor]"):
            try:
                after = int(base64.urlsafe_b64decode(query["page[cursor]"] + "=" * (-len(query["page[cursor]"]) % 4)))
            except (ValueError, binascii.Error):
                raise BadRequest("page[cursor] is not a cursor this API issued", "page[cursor]") from None
        key = query.get("idempotency_key")
        rows = self.receipts.find(key, after, size + 1)
        more = key is None and len(rows) > size
        rows = rows[:size]
        self_url = f"{request.base_url}/api/messages/"
        params = {k: v for k, v in query.items() if k != "page[cursor]"}
        cursor = base64.urlsafe_b64encode(str(rows[-1]["seq"]).encode()).decode().rstrip("=") if more else None
        body = {
            "data": [_receipt(row, request.base_url) for row in rows],
            "links": {
                "self": self_url + ("?" + urlencode(query) if query else ""),
                "next": self_url + "?" + urlencode({**params, "page[cursor]": cursor}) if more else None,
                "prev": None,
            },
        }
        return Response(200, body, dict(JSONAPI))


    def _profile(self, profile_id: str) -> dict | None:
        rows = self.snapshots.get("profiles")
        with self._lock:
            if self._profiles[0] is not rows:
                self._profiles = (rows, {str(r.get("id")): r for r in rows or []})
            return self._profiles[1].get(profile_id)
