"""Social media: our page's posts and what people do with them, read from the Meta Graph API (or the demo
server that speaks it, :mod:`ingestion.demo_world.apis.social`).

Two resources, two raw tables:

- ``posts``: ``GET /<version>/<page-id>/posts``;
- ``interactions``: one row per comment (``/comments``, with its text), mention (``/tags``, with its text),
  like (``/reactions``), share (``/sharedposts``) and check-in (``/checkins``, the store in ``place.id``):
  the author's ``from.username`` becomes ``handle``, ``from.name`` ``display_name``, ``place.id`` becomes
  ``store_id``, the edge says ``interaction_type``. Each edge keeps its own cursor (in this resource's dlt state).

The protocol: ``Authorization: Bearer <page access token>`` (never ``access_token`` in the query: URLs end up
in error messages); ``fields=`` asks for exactly the fields the contract declares; pages of ``limit`` rows
followed by ``after`` = ``paging.cursors.after`` while ``paging.next`` is there; ``since`` (unix seconds,
inclusive) = the cursor minus the lag window. Graph throttles with HTTP 400/403 and error code 4, 17, 32,
613 (or 80000-80014 for business use cases, or ``is_transient``), or with a 429: all of these are retried
with backoff, as are 5xx, cut connections and truncated bodies. Any other error fails the run, which then
commits no cursor. A page without ``data`` is an error, never an empty page.

The page id is ``page_id`` when given, else the page the token belongs to (``GET /<version>/me``).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterator

import dlt
import requests
import requests.auth
from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator

from ._contracts import (
    DEFAULT_FUTURE_TOLERANCE,
    DEFAULT_LAG,
    SCHEMA_CONTRACT,
    Col,
    Contract,
    Cursor,
    batch_items,
    conform,
    seconds,
)
from ._http import ProtocolError, _where, batched, http_session, rest_client

GRAPH_VERSION = "v19.0"
PAGE_SIZE = 100  # Graph's largest page on these edges
THROTTLE_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})
# Retries of the session (tests make them quick); Graph sends no Retry-After, so backoff is exponential.
RETRY = {"max_attempts": 8, "backoff": 0.5, "max_delay": 20.0, "timeout": 60.0}

POSTS = Contract(
    table="posts",
    columns=(
        Col("id", "text", nullable=False),
        Col("channel", "text"),
        Col("post_type", "text"),
        Col("message", "text"),
        Col("reach", "bigint"),  # people reached (Graph insight post_impressions_unique); none before the insight exists
        Col("created_time", "timestamp", nullable=False),
        Col("updated_time", "timestamp", nullable=False),
    ),
    primary_key=("id",),
    cursor="updated_time",
)

INTERACTIONS = Contract(
    table="interactions",
    columns=(
        Col("id", "text", nullable=False),
        Col("interaction_type", "text", nullable=False),
        Col("post_id", "text"),
        Col("channel", "text"),
        Col("handle", "text", nullable=False, identifier=True),
        Col("display_name", "text"),  # from.name: the name on the profile
        Col("message", "text"),
        Col("reaction_type", "text"),
        Col("store_id", "text"),
        Col("created_time", "timestamp", nullable=False),
        Col("updated_time", "timestamp", nullable=False),
    ),
    primary_key=("id",),
    cursor="updated_time",
)

# edge -> (interaction_type, the fields asked for)
EDGES: dict[str, tuple[str, str]] = {
    "comments": ("comment", "id,message,from{name,username},post_id,channel,created_time,updated_time"),
    "tags": ("mention", "id,message,from{name,username},channel,created_time,updated_time"),
    "reactions": ("like", "id,type,from{name,username},post_id,channel,created_time,updated_time"),
    "sharedposts": ("share", "id,message,from{name,username},post_id,channel,created_time,updated_time"),
    "checkins": ("check_in", "id,message,from{name,username},place{id},channel,created_time,updated_time"),
}
POST_FIELDS = "id,message,channel,post_type,reach,created_time,updated_time"


class GraphAPIError(requests.HTTPError):
    """An error answer of the Graph API: the path, status and Graph's error code, type and message."""


def _graph_error(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def raise_for_graph_error(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """Response hook: an HTTP error becomes a :class:`GraphAPIError` naming the path, never the query."""
    if response.status_code < 400:
        return
    error = _graph_error(response)
    detail = ""
    if error:
        message = str(error.get("message", ""))[:200]
        detail = f": Graph error #{error.get('code')} ({error.get('type')}) {message}"
    raise GraphAPIError(f"{_where(response)}{detail}", response=response)


def throttled(response: requests.Response | None, exception: BaseException | None) -> bool:
    """Graph's throttling (and errors it marks transient) answered with 400/403/429: retry with backoff."""
    if response is None or response.status_code not in (400, 403, 429):
        return False
    error = _graph_error(response)
    return error.get("code") in THROTTLE_CODES or error.get("is_transient") is True


def graph_session() -> requests.Session:
    """``_http.http_session`` plus Graph's throttling answers as transient faults."""
    return http_session(
        max_attempts=int(RETRY["max_attempts"]),
        backoff=RETRY["backoff"],
        max_delay=RETRY["max_delay"],
        timeout=RETRY["timeout"],
        retry_if=[throttled],
    )


class GraphCursorPaginator(JSONResponseCursorPaginator):
    """``after`` = ``paging.cursors.after`` while the page has ``paging.next`` (Graph's last page has none)."""

    def __init__(self) -> None:
        super().__init__(cursor_path="paging.cursors.after", cursor_param="after")

    def update_state(self, response: requests.Response, data: list | None = None) -> None:
        paging = response.json().get("paging")
        if paging is not None and not isinstance(paging, dict):
            raise ProtocolError(f"{_where(response)}: `paging` is not an object")
        if not paging or not paging.get("next"):
            self._next_reference = None
            return
        cursors = paging.get("cursors")
        after = cursors.get("after") if isinstance(cursors, dict) else None
        if not after or not isinstance(after, str):
            raise ProtocolError(f"{_where(response)}: `paging.next` without `paging.cursors.after`")
        self._next_reference = after


class BearerToken(requests.auth.AuthBase):
    """``Authorization: Bearer <token>``, added when a request is sent; its repr never shows the token."""

    def __init__(self, token: str):
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "BearerToken(***)"


def _sub(record: dict, field: str, key: str) -> Any:
    """``record[field][key]``; a ``field`` that is not an object stays wrong (the contract quarantines it)."""
    value = record.get(field)
    if value is None or isinstance(value, dict) and key not in value:
        return None
    return value.get(key) if isinstance(value, dict) else [value]


def as_interaction(record: Any, interaction_type: str) -> Any:
    """A node of an interaction edge as a row of ``interactions``."""
    if not isinstance(record, dict):
        return record
    row = {k: v for k, v in record.items() if k not in ("from", "place", "type")}
    row["interaction_type"] = interaction_type
    row["handle"] = _sub(record, "from", "username")
    author = record.get("from")
    row["display_name"] = author.get("name") if isinstance(author, dict) else None  # a broken `from`: see handle
    row["store_id"] = _sub(record, "place", "id")
    row["reaction_type"] = record.get("type")
    return row


@dlt.source(name="social")
def social_source(
    base_url: str = dlt.config.value,
    access_token: str = dlt.secrets.value,
    page_size: int = PAGE_SIZE,
    lag_seconds: float | None = None,
    future_tolerance_seconds: float | None = None,
    page_id: str | None = None,
    api_version: str = GRAPH_VERSION,
):
    """Posts and interactions of one page (see the module docstring).

    ``lag_seconds``: each run re-reads this far behind its cursor (late updates, ties); default one hour.
    ``future_tolerance_seconds``: rows dated further in the future are quarantined; default one day.
    Both also from dlt config (``SOURCES__SOCIAL__LAG_SECONDS``, ``SOURCES__SOCIAL__FUTURE_TOLERANCE_SECONDS``).
    """
    lag = seconds(lag_seconds, DEFAULT_LAG)
    tolerance = seconds(future_tolerance_seconds, DEFAULT_FUTURE_TOLERANCE)
    client = rest_client(
        f"{base_url.rstrip('/')}/{api_version}",
        paginator=GraphCursorPaginator(),
        data_selector="data",
        session=graph_session(),
    )
    client.auth = BearerToken(access_token)  # auth, not a header: dlt's debug log prints request headers
    known_page = {"id": page_id}

    def page() -> str:
        if not known_page["id"]:
            response = client.get("me", params={"fields": "id"}, hooks={"response": [raise_for_graph_error]})
            found = response.json().get("id") if isinstance(response.json(), dict) else None
            if not isinstance(found, str) or not found:
                raise ProtocolError(f"{_where(response)}: no page `id` for this token")
            known_page["id"] = found
        return known_page["id"]

    def read(edge: str, fields: str, cursor: Cursor, shape=None) -> Iterator[tuple[list, str]]:
        params: dict[str, Any] = {"fields": fields, "limit": page_size}
        if cursor.last_value is not None:
            params["since"] = int(cursor.start.timestamp())
        hooks = {"response": [raise_for_graph_error]}
        for number, data in enumerate(client.paginate(f"{page()}/{edge}", params=params, hooks=hooks), start=1):
            records = [shape(r) for r in data] if shape else list(data)
            yield records, f"{edge} page {number}"

    def load(contract: Contract, edge: str, fields: str, cursor: Cursor, shape=None):
        now = datetime.now(timezone.utc)
        for records, positions in batched(read(edge, fields, cursor, shape)):
            batch = conform(records, contract, position=positions, now=now, future_tolerance=tolerance)
            yield from batch_items(batch, contract)
            cursor.advance(batch.max_cursor)

    @dlt.resource(
        name="posts",
        primary_key="id",
        write_disposition="merge",
        schema_contract=SCHEMA_CONTRACT,
        file_format="parquet",
    )
    def posts():
        yield from load(POSTS, "posts", POST_FIELDS, Cursor(lag=lag))

    @dlt.resource(
        name="interactions",
        primary_key="id",
        write_disposition="merge",
        schema_contract=SCHEMA_CONTRACT,
        file_format="parquet",
    )
    def interactions():
        state = dlt.current.resource_state()
        for edge, (kind, fields) in EDGES.items():
            cursor = Cursor(lag=lag, state=state.setdefault(edge, {}))
            yield from load(INTERACTIONS, edge, fields, cursor, lambda r, kind=kind: as_interaction(r, kind))

    return [posts, interactions]
