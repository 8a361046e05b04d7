"""Social media, served the way the Meta Graph API serves a page (``/social/v19.0/...``).

- ``GET /<version>/me`` (the page a page access token belongs to) and ``GET /<version>/<page-id>``;
- ``GET /<version>/<page-id>/<edge>`` for the edges ``posts`` (our posts), ``comments`` (comments on our posts,
  with their ``message`` and author ``from{username}``), ``tags`` (posts of others mentioning us, with their
  ``message``), ``reactions`` (likes), ``sharedposts`` (shares) and ``checkins`` (``place{id}`` = the store);
  per post: ``GET /<version>/<post-id>/comments`` (also ``reactions``, ``sharedposts``);
- posts carry ``reach`` (people reached: Graph's ``post_impressions_unique`` insight) when asked for; a post
  without an insight yet has none;
- ``fields=a,b,from{username}`` selects fields (an unknown one is error #100, as on Graph); without it, a
  default set per edge;
- ``limit`` (default 25, at most 100), cursor pagination: ``after`` / ``before`` from ``paging.cursors``; the
  last page has no ``paging.next``; an empty page is ``{"data": []}``;
- ``since`` / ``until`` (unix seconds or ISO-8601) filter on ``updated_time``, both inclusive; rows come in
  ``(updated_time, id)`` order (Graph's ``order=chronological``), so an incremental reader can keyset on it
  (a row whose ``updated_time`` is not a valid time sorts as 1970);
- auth: ``Authorization: Bearer <page access token>`` only (a token in the query string is refused, so it never
  lands in a URL); a missing or wrong token is HTTP 401, error #190;
- throttling as Graph does it: beyond ``rate_limit`` calls per ``rate_window`` seconds per token the answer
  is HTTP 400 (``throttle_status``) with error #4 (``throttle_code``: 4 app, 17 user, 32 page, 613 calls) and
  an ``X-App-Usage`` header; errors use Graph's envelope ``{"error": {message, type, code, fbtrace_id}}``.

Timestamps are on the wire as Graph writes them: ``2026-09-01T10:00:00+0000``.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hmac
import json
import math
import re
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

from ..api_server import DEMO_TOKENS, Request, Response, Snapshots

PAGE_ID = "104857600000001"
PAGE_NAME = "Journey"
DEFAULT_LIMIT = 25
MAX_LIMIT = 100
_VERSION = re.compile(r"v\d+\.\d+")

# Fields each edge's nodes have, and what Graph returns when no `fields` are asked for.
FIELDS = {
    "posts": ("id", "message", "channel", "post_type", "reach", "created_time", "updated_time"),
    "comments": ("id", "message", "from", "post_id", "channel", "created_time", "updated_time"),
    "tags": ("id", "message", "from", "channel", "created_time", "updated_time"),
    "reactions": ("id", "type", "from", "post_id", "channel", "created_time", "updated_time"),
    "sharedposts": ("id", "message", "from", "post_id", "channel", "created_time", "updated_time"),
    "checkins": ("id", "message", "from", "place", "channel", "created_time", "updated_time"),
}
DEFAULT_FIELDS = {
    "posts": ("id", "message", "created_time"),
    "comments": ("id", "message", "from", "created_time"),
    "tags": ("id", "message", "created_time"),
    "reactions": ("id", "type"),
    "sharedposts": ("id", "created_time"),
    "checkins": ("id", "place", "created_time"),
}
NODE_TYPES = {
    "posts": "Post", "comments": "Comment", "tags": "Post", "reactions": "Reaction", "sharedposts": "Post", "checkins": "Checkin",
}
PER_POST_EDGES = ("comments", "reactions", "sharedposts")


class GraphError(Exception):
    def __init__(self, status: int, code: int, message: str, kind: str = "OAuthException", headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.kind, self.headers = status, code, message, kind, headers or {}

    def response(self) -> Response:
        body = {"error": {"message": self.message, "type": self.kind, "code": self.code, "fbtrace_id": _trace_id()}}
        return Response(self.status, body, self.headers)


def _trace_id() -> str:
    return "A" + uuid.uuid4().hex[:22]


def graph_error(status: int, code: int, message: str, kind: str = "OAuthException", **headers: str) -> Response:
    return GraphError(status, code, message, kind, headers).response()


def parse_time(value: str) -> float:
    """``since`` / ``until``: unix seconds or ISO-8601 with a zone, as epoch seconds."""
    text = value.strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return float(text)
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise GraphError(400, 100, "(#100) The parameter since/until must be a unix timestamp or an ISO-8601 time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)  # Graph reads a time without a zone as UTC
    return parsed.timestamp()


def _row_time(value: object) -> float | None:
    """A row's ``updated_time`` as epoch seconds; None when it is not a valid Graph time."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed.timestamp() if parsed.tzinfo else None


def _key(row: dict) -> tuple[float, str]:
    # a row without a valid time sorts first, as if it were from 1970
    at = _row_time(row.get("updated_time"))
    return (-1.0 if at is None else at, str(row.get("id")))


def _encode_cursor(key: tuple[float, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def _decode_cursor(value: str) -> tuple[float, str]:
    try:
        at, row_id = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        return float(at), str(row_id)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise GraphError(400, 100, "(#100) Invalid cursor") from None


def _parse_fields(value: str, edge: str) -> list[str]:
    """``a,b,from{username,id}`` -> ``[a, b, from]`` (sub-selections return the whole object)."""
    depth, current, names = 0, "", []
    for char in value:
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "," and depth == 0:
            names.append(current.strip())
            current = ""
        elif depth == 0:
            current += char
    names.append(current.strip())
    names = [n for n in names if n]
    for name in names:
        if name not in FIELDS[edge]:
            raise GraphError(400, 100, f"(#100) Tried accessing nonexisting field ({name}) on node type ({NODE_TYPES[edge]})")
    return names


class _Window:
    """Graph's call count: at most ``limit`` calls per ``window`` seconds per token."""

    def __init__(self, limit: int | None, window: float):
        self.limit, self.window = limit, window
        self._calls: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def take(self, token: str) -> tuple[bool, int]:
        if not self.limit:
            return True, 0
        now = time.monotonic()
        with self._lock:
            calls = [t for t in self._calls.get(token, []) if now - t < self.window]
            allowed = len(calls) < self.limit
            if allowed:
                calls.append(now)
            self._calls[token] = calls
            return allowed, min(100, round(100 * len(calls) / self.limit))


class App:
    def __init__(
        self,
        root: Path,
        *,
        token: str = DEMO_TOKENS["social"],
        page_id: str = PAGE_ID,
        rate_limit: int | None = None,
        rate_window: float = 1.0,
        throttle_status: int = 400,
        throttle_code: int = 4,
        max_limit: int = MAX_LIMIT,
    ):
        self.snapshots = Snapshots(root)
        self.token, self.page_id, self.max_limit = token, page_id, max_limit
        self.window = _Window(rate_limit, rate_window)
        self.throttle_status, self.throttle_code = throttle_status, throttle_code
        self._index: dict[str, tuple[int, list[tuple[float, str]]]] = {}
        self._index_lock = threading.Lock()

    # --- the request ----------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        try:
            if "access_token" in request.query:
                raise GraphError(400, 100, "(#100) Send the access token in the Authorization header, not in the URL")
            token = self._token(request)
            allowed, usage = self.window.take(token)
            if not allowed:
                raise GraphError(
                    self.throttle_status,
                    self.throttle_code,
                    f"(#{self.throttle_code}) Application request limit reached",
                    headers={"X-App-Usage": json.dumps({"call_count": usage, "total_cputime": 0, "total_time": 0})},
                )
            return self._route(request)
        except GraphError as exc:
            return exc.response()

    def _token(self, request: Request) -> str:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise GraphError(401, 190, "An active access token must be used to query this endpoint.")
        if not hmac.compare_digest(token.strip().encode(), self.token.encode()):
            raise GraphError(401, 190, "Invalid OAuth access token - Cannot parse access token")
        return token.strip()

    def _route(self, request: Request) -> Response:
        parts = [p for p in request.path.split("/") if p]
        if request.method != "GET" or not parts or not _VERSION.fullmatch(parts[0]):
            raise GraphError(400, 2500, "Unknown path components", "OAuthException")
        node, edge = (parts[1:] + [None, None])[:2] if len(parts) <= 3 else (None, None)
        if node is None:
            raise GraphError(400, 2500, "Unknown path components", "OAuthException")
        if node in ("me", self.page_id) and edge is None:
            return Response(200, {"id": self.page_id, "name": PAGE_NAME})
        if node in ("me", self.page_id) and edge in FIELDS:
            return self._edge(request, edge, post_id=None)
        if edge in PER_POST_EDGES and any(p["id"] == node for p in self._rows("posts")):
            return self._edge(request, edge, post_id=node)
        raise GraphError(
            400, 100, "Unsupported get request. The object does not exist, cannot be loaded due to missing permissions, "
            "or does not support this operation.", "GraphMethodException",
        )

    # --- an edge --------------------------------------------------------------------------------------------

    def _rows(self, edge: str) -> list[dict]:
        rows = self.snapshots.get(edge, sort_key=_key)
        return rows if rows is not None else []

    def _keys(self, edge: str, rows: list[dict]) -> list[tuple[float, str]]:
        with self._index_lock:
            cached = self._index.get(edge)
            if cached is None or cached[0] != id(rows):
                cached = (id(rows), [_key(r) for r in rows])
                self._index[edge] = cached
            return cached[1]

    def _edge(self, request: Request, edge: str, post_id: str | None) -> Response:
        query = request.query
        fields = _parse_fields(query["fields"], edge) if query.get("fields") else list(DEFAULT_FIELDS[edge])
        try:
            limit = int(query.get("limit") or DEFAULT_LIMIT)
        except ValueError:
            raise GraphError(400, 100, "(#100) The parameter limit must be an integer") from None
        if limit < 1:
            raise GraphError(400, 100, "(#100) The parameter limit must be positive")
        limit = min(limit, self.max_limit)
        since = parse_time(query["since"]) if query.get("since") else None
        until = parse_time(query["until"]) if query.get("until") else None
        after = _decode_cursor(query["after"]) if query.get("after") else None
        before = _decode_cursor(query["before"]) if query.get("before") else None

        rows = self._rows(edge)
        keys = self._keys(edge, rows)
        lo = 0 if since is None else bisect.bisect_left(keys, (since, ""))
        end = hi = len(rows) if until is None else bisect.bisect_left(keys, (math.nextafter(until, math.inf), ""))
        if after is not None:
            lo = max(lo, bisect.bisect_right(keys, after))
        if before is not None:
            hi = min(hi, bisect.bisect_left(keys, before))

        def wanted(index: int) -> bool:
            return post_id is None or rows[index].get("post_id") == post_id

        if before is not None and after is None:  # the page just before `before`
            picked = [i for i in range(hi - 1, lo - 1, -1) if wanted(i)][:limit][::-1]
        else:
            picked = []
            index = lo
            while index < hi and len(picked) < limit:
                if wanted(index):
                    picked.append(index)
                index += 1
        more = bool(picked) and any(wanted(i) for i in range(picked[-1] + 1, end))
        if not picked:
            return Response(200, {"data": []})
        data = [{f: rows[i][f] for f in fields if f in rows[i]} for i in picked]
        paging: dict = {"cursors": {"before": _encode_cursor(keys[picked[0]]), "after": _encode_cursor(keys[picked[-1]])}}
        if more:
            params = {k: v for k, v in query.items() if k not in ("after", "before")}
            params["after"] = paging["cursors"]["after"]
            paging["next"] = f"{request.base_url}{request.path}?{urlencode(params)}"
        return Response(200, {"data": data, "paging": paging})
