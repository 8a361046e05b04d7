"""The demo shop, speaking Shopify's Admin REST API (version 2024-07) and a web-analytics collector's export.

Admin API (``X-Shopify-Access-Token`` header; 401 ``{"errors": ...}`` without the right token):

- ``GET /admin/api/2024-07/customers.json``, ``orders.json`` (``status`` = open | closed | cancelled | any,
  default open, as in Shopify), ``checkouts.json`` (abandoned checkouts): filters ``updated_at_min``,
  ``updated_at_max`` (ISO-8601 with an offset, compared as points in time), ``limit`` (1..250, default 50);
  envelope ``{"customers": [...]}`` etc.; records in id order.
- ``GET /admin/api/2024-07/events.json``: the Events API, ``filter`` (subject types, comma-separated),
  ``verb``, ``created_at_min``, ``created_at_max``; envelope ``{"events": [...]}``. The demo shop reports
  ``verb: destroy`` for a deleted customer and ``verb: redact`` for one erased on a GDPR ``customers/redact``
  request.
- ``GET /admin/api/2024-07/reviews.json``: product reviews (what a reviews app such as Judge.me keeps next to
  the shop): ``id``, ``product_id``, ``customer{id}``, ``rating`` (1..5 stars), ``title``, ``body``,
  ``created_at``, ``updated_at``; filters ``updated_at_min`` / ``updated_at_max`` and ``limit`` as above.
- ``GET /admin/api/2024-07/products.json``: the catalogue, ``id``, ``title``, ``product_type`` (the category),
  ``status``, ``created_at``, ``updated_at`` and ``variants[{id, product_id, sku, price, inventory_quantity,
  updated_at}]`` (the stock on the variant, as Shopify keeps it); filters ``updated_at_min`` / ``updated_at_max``
  and ``limit`` as above.
- Cursor pagination: each page's ``Link`` header carries ``<...?limit=N&page_info=X>; rel="next"`` (and
  ``rel="previous"``); a request with ``page_info`` may carry only ``limit`` besides (anything else: 400).
- Rate limit: a leaky bucket per shop (Shopify: 40 requests, leaking 2 per second); every answer carries
  ``X-Shopify-Shop-Api-Call-Limit: <used>/<capacity>``, a full bucket answers 429 with ``Retry-After: 2.0``.
  The demo's default bucket is generous (a demo load is never slowed); ``bucket=(40, 2)`` is Shopify's.
- Timestamps in the shop's time zone (``+02:00`` in summer), money as strings (``"12.50"``).

Storefront events (``Authorization: Bearer <token>``): ``GET /collector/v1/events?after=&limit=&cursor=``,
the collector's export of web-analytics events in the order it received them (``collector_tstamp``, then
``event_id``); ``after`` is inclusive; envelope ``{"events": [...], "next_cursor": "..." | null}``; with
``cursor`` the other filters are those the cursor was made with. ``limit`` 1..1000, default 1000.
"""

from __future__ import annotations

import base64
import bisect
import hmac
import json
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlencode

from ..api_server import DEMO_TOKENS, LeakyBucket, Request, Response, Snapshots, error

API_VERSION = "2024-07"
ADMIN = f"/admin/api/{API_VERSION}/"
MAX_LIMIT, DEFAULT_LIMIT = 250, 50
COLLECTOR_PATH = "/collector/v1/events"
COLLECTOR_MAX_LIMIT = 1000
SHOPIFY_BUCKET = (40, 2.0)
DEMO_BUCKET = (100_000, 10_000.0)

# endpoint -> (snapshot, envelope key, time filter column)
ADMIN_ENDPOINTS = {
    "customers": ("customers", "customers", "updated_at"),
    "orders": ("orders", "orders", "updated_at"),
    "checkouts": ("abandoned_checkouts", "checkouts", "updated_at"),
    "events": ("customer_events", "events", "created_at"),
    "reviews": ("reviews", "reviews", "updated_at"),
    "products": ("products", "products", "updated_at"),
}
ORDER_STATUSES = ("open", "closed", "cancelled", "any")


class BadRequest(ValueError):
    pass


def _instant(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name}: expected an ISO-8601 time") from None
    if parsed.tzinfo is None:
        raise BadRequest(f"{name}: needs a time zone offset")
    return parsed.astimezone(timezone.utc)


def _limit(query: dict[str, str], maximum: int, default: int) -> int:
    try:
        limit = int(query.get("limit", default))
    except ValueError:
        raise BadRequest("limit: expected an integer") from None
    if not 1 <= limit <= maximum:
        raise BadRequest(f"limit: must be between 1 and {maximum}")
    return limit


def _encode(payload: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(value: str, name: str) -> dict:
    try:
        payload = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        if not isinstance(payload, dict):
            raise ValueError
        return payload
    except ValueError:
        raise BadRequest(f"{name}: invalid value") from None


class _Index:
    """A snapshot's rows with their times parsed once (rebuilt when the snapshot file changes)."""

    def __init__(self, rows: list[dict], time_column: str, sort: Callable[[dict], Any]):
        self.rows = rows
        self.keys = [sort(r) for r in rows]
        if sort is _id_key:  # a page position: the id, and which copy of it (a shop may serve an id twice)
            seen: dict[int, int] = {}
            for n, key in enumerate(self.keys):
                seen[key] = seen.get(key, -1) + 1
                self.keys[n] = (key, seen[key])
        self.times = [_row_time(r.get(time_column)) for r in rows]


def _id_key(row: dict) -> int:
    return row["id"] if isinstance(row.get("id"), int) else -1


def _row_time(value: Any) -> datetime | None:
    """A row's time, or None when the shop wrote none or garbage (the source's contract quarantines it)."""
    try:
        return _instant(value, "row") if isinstance(value, str) else None
    except BadRequest:
        return None


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _received(row: dict) -> tuple[datetime, str]:
    return _row_time(row.get("collector_tstamp")) or EPOCH, str(row.get("event_id"))


class App:
    def __init__(
        self,
        root: Path,
        *,
        token: str = DEMO_TOKENS["shop"],
        bucket: tuple[int, float] = DEMO_BUCKET,
    ):
        self.snapshots = Snapshots(root)
        self.token = token
        self.bucket = LeakyBucket(*bucket)
        self._indexes: dict[str, _Index] = {}
        self._lock = threading.Lock()

    # --- routing -------------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        if request.path.startswith(ADMIN) and request.path.endswith(".json"):
            return self._admin(request, request.path[len(ADMIN) : -len(".json")])
        if request.path == COLLECTOR_PATH:
            return self._collector(request)
        return error(404, "Not Found")

    def _authorized(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented.encode(), self.token.encode())

    def _index(self, snapshot: str, time_column: str, sort: Callable[[dict], Any]) -> _Index | None:
        rows = self.snapshots.get(snapshot, sort_key=sort)
        if rows is None:
            return None
        with self._lock:
            index = self._indexes.get(snapshot)
            if index is None or index.rows is not rows:
                index = self._indexes[snapshot] = _Index(rows, time_column, sort)
            return index

    # --- the Admin API -------------------------------------------------------------------------------------

    def _admin(self, request: Request, endpoint: str) -> Response:
        if not self._authorized(request.headers.get("x-shopify-access-token")):
            return error(401, "[API] Invalid API key or access token (unrecognized login or wrong password)")
        allowed, level = self.bucket.take()
        limit_header = {"X-Shopify-Shop-Api-Call-Limit": f"{level}/{self.bucket.capacity}"}
        if not allowed:
            return error(429, "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service.",
                         **limit_header, **{"Retry-After": "2.0"})
        if endpoint not in ADMIN_ENDPOINTS:
            return error(404, "Not Found", **limit_header)
        snapshot, envelope, time_column = ADMIN_ENDPOINTS[endpoint]
        try:
            return self._admin_page(request, endpoint, snapshot, envelope, time_column, limit_header)
        except (ValueError, TypeError) as exc:  # BadRequest, or a page_info that decodes to nonsense
            return error(400, str(exc) if isinstance(exc, BadRequest) else "page_info: invalid value", **limit_header)

    def _admin_page(self, request, endpoint, snapshot, envelope, time_column, headers) -> Response:
        query = request.query
        limit = _limit(query, MAX_LIMIT, DEFAULT_LIMIT)
        if "page_info" in query:
            others = sorted(set(query) - {"page_info", "limit"})
            if others:
                raise BadRequest(f"page_info: no other parameter than limit is allowed with it ({', '.join(others)})")
            state = _decode(query["page_info"], "page_info")
            filters, after, before = state.get("f", {}), state.get("after"), state.get("before")
            after, before = (tuple(after) if after else None), (tuple(before) if before else None)
        else:
            filters, after, before = {k: v for k, v in query.items() if k != "limit"}, None, None
        select = self._admin_filter(endpoint, time_column, filters)
        index = self._index(snapshot, time_column, _id_key)
        if index is None:
            return error(404, "Not Found", **headers)
        if before is not None:  # previous page: the last `limit` matches before the first id of this one
            stop = bisect.bisect_left(index.keys, before)
            picked = [i for i in range(stop) if select(index, i)][-limit:]
        else:
            start = bisect.bisect_right(index.keys, after) if after is not None else 0
            picked = []
            for i in range(start, len(index.rows)):
                if select(index, i):
                    picked.append(i)
                    if len(picked) == limit + 1:
                        break
        more = len(picked) > limit if before is None else any(select(index, i) for i in range(picked[0])) if picked else False
        picked = picked[:limit]
        links = []
        if picked and (after is not None or before is not None):
            links.append((_encode({"f": filters, "before": index.keys[picked[0]]}), "previous"))
        if picked and (more if before is None else True):
            links.append((_encode({"f": filters, "after": index.keys[picked[-1]]}), "next"))
        url = f"{request.base_url}{ADMIN}{endpoint}.json"
        if links:
            headers = {
                **headers,
                "Link": ", ".join(f'<{url}?{urlencode({"limit": limit, "page_info": p})}>; rel="{rel}"' for p, rel in links),
            }
        return Response(200, {envelope: [index.rows[i] for i in picked]}, headers)

    def _admin_filter(self, endpoint: str, time_column: str, filters: dict[str, str]) -> Callable[[_Index, int], bool]:
        time_min = time_max = None
        prefix = "created_at" if time_column == "created_at" else "updated_at"
        known = {f"{prefix}_min", f"{prefix}_max"}
        if endpoint == "orders":
            known.add("status")
        if endpoint == "events":
            known |= {"filter", "verb"}
        unknown = sorted(set(filters) - known)
        if unknown:
            raise BadRequest(f"unknown parameter(s): {', '.join(unknown)}")
        if filters.get(f"{prefix}_min"):
            time_min = _instant(filters[f"{prefix}_min"], f"{prefix}_min")
        if filters.get(f"{prefix}_max"):
            time_max = _instant(filters[f"{prefix}_max"], f"{prefix}_max")
        status = filters.get("status", "open")
        if endpoint == "orders" and status not in ORDER_STATUSES:
            raise BadRequest(f"status: must be one of {', '.join(ORDER_STATUSES)}")
        subjects = {s.strip() for s in filters["filter"].split(",")} if filters.get("filter") else None
        verb = filters.get("verb")

        def select(index: _Index, i: int) -> bool:
            at = index.times[i]
            if time_min is not None and (at is None or at < time_min):
                return False
            if time_max is not None and (at is None or at > time_max):
                return False
            row = index.rows[i]
            if endpoint == "orders" and status != "any":
                state = "cancelled" if row.get("cancelled_at") else "closed" if row.get("closed_at") else "open"
                if state != status:
                    return False
            if subjects is not None and row.get("subject_type") not in subjects:
                return False
            return verb is None or row.get("verb") == verb

        return select

    # --- the storefront events collector -------------------------------------------------------------------

    def _collector(self, request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not self._authorized(auth[len("Bearer ") :]):
            return error(401, "unauthorized")
        try:
            limit = _limit(request.query, COLLECTOR_MAX_LIMIT, COLLECTOR_MAX_LIMIT)
            if request.query.get("cursor"):
                state = _decode(request.query["cursor"], "cursor")
                position, since = (_instant(state["at"][0], "cursor"), str(state["at"][1])), state.get("after")
            else:
                position, since = None, request.query.get("after") or None
            unknown = sorted(set(request.query) - {"after", "limit", "cursor"})
            if unknown:
                raise BadRequest(f"unknown parameter(s): {', '.join(unknown)}")
            since_at = _instant(since, "after") if since else None
        except (BadRequest, KeyError, TypeError, IndexError) as exc:
            return error(400, str(exc) if isinstance(exc, BadRequest) else "cursor: invalid value")
        index = self._index("events", "collector_tstamp", _received)
        if index is None:
            return error(404, "Not Found")
        if position is not None:
            start = bisect.bisect_right(index.keys, position)
        elif since_at is not None:
            start = bisect.bisect_left(index.keys, (since_at, ""))
        else:
            start = 0
        rows = index.rows[start : start + limit]
        more = start + limit < len(index.rows)
        last_at, last_id = index.keys[start + limit - 1] if more and rows else (None, None)
        cursor = _encode({"at": [last_at.isoformat(), last_id], "after": since}) if last_at else None
        return Response(200, {"events": rows, "next_cursor": cursor})
