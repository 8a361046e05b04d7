"""What the three HTTP API sources share: a retrying session, a strict REST client, page batching.

- Transient faults are retried with exponential backoff (``Retry-After`` honoured): 429, 5xx, reset or
  refused connections, time-outs, and bodies cut short (a truncated body is never parsed as a page).
- A page that does not match the protocol (the data key missing or not a list) raises :class:`ProtocolError`:
  it is never taken as an empty page, so no cursor moves past records that were not read.
- Errors name the URL path, never the query string (which may carry a cursor or a filter on customer data)
  and never the access token.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Sequence

import requests
from dlt.common import jsonpath
from dlt.sources.helpers.requests import Client
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.paginators import BasePaginator

from ._contracts import BATCH_ROWS


class ProtocolError(RuntimeError):
    """A response that does not follow the source system's protocol."""


def _cut_short(response: requests.Response | None, exception: BaseException | None) -> bool:
    """Retry a 2xx JSON body that stops short of its closing bracket (the connection dropped mid-body and
    the server sent no length to catch it; a short body against its Content-Length already raises)."""
    if response is None or not response.ok or exception is not None:
        return False
    if "json" not in response.headers.get("Content-Type", ""):
        return False
    return not response.content.rstrip().endswith((b"}", b"]"))


def http_session(
    *,
    max_attempts: int = 8,
    backoff: float = 0.5,
    max_delay: float = 20,
    timeout: float = 60,
    retry_if: Sequence[Callable[[requests.Response | None, BaseException | None], bool]] = (),
) -> requests.Session:
    """A requests session that retries transient faults (see the module docstring), and whatever else one of
    ``retry_if`` says is transient (a system's own throttling answers, say)."""
    return Client(
        request_timeout=timeout,
        raise_for_status=False,
        request_max_attempts=max_attempts,
        request_backoff_factor=backoff,
        request_max_retry_delay=max_delay,
        retry_condition=[_cut_short, *retry_if],
        respect_retry_after_header=True,
    ).session


class SecretHeaders(requests.auth.AuthBase):
    """Headers that carry a secret (an access token), added only when a request is sent: dlt's REST client logs
    the request's own headers at DEBUG level, never these; the repr hides the values."""

    def __init__(self, headers: dict[str, str]):
        self._headers = dict(headers)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.update(self._headers)
        return request

    def __repr__(self) -> str:
        return f"SecretHeaders({', '.join(f'{name}=***' for name in self._headers)})"


class StrictRESTClient(RESTClient):
    """dlt's REST client, except that a missing or malformed data key is an error, not an empty page."""

    def extract_response(self, response: requests.Response, data_selector: jsonpath.TJsonPath) -> list[Any]:
        try:
            document = response.json()
        except ValueError:
            raise ProtocolError(f"{_where(response)}: the body is not JSON") from None
        values = jsonpath.find_values(data_selector, document)
        if not values:
            raise ProtocolError(f"{_where(response)}: no `{data_selector}` in the response")
        data = values[0]
        if not isinstance(data, list):
            raise ProtocolError(f"{_where(response)}: `{data_selector}` is not a list")
        return data


def _where(response: requests.Response) -> str:
    request = response.request
    path = requests.utils.urlparse(request.url).path if request is not None and request.url else "?"
    return f"{request.method if request is not None else 'GET'} {path} ({response.status_code})"


def rest_client(
    base_url: str,
    *,
    paginator: BasePaginator,
    data_selector: str,
    headers: dict[str, str] | None = None,
    secret_headers: dict[str, str] | None = None,
    session: requests.Session | None = None,
) -> StrictRESTClient:
    """``secret_headers``: headers with a token (sent through :class:`SecretHeaders`, never logged)."""
    return StrictRESTClient(
        base_url=base_url.rstrip("/"),
        headers=headers,
        auth=SecretHeaders(secret_headers) if secret_headers else None,
        paginator=paginator,
        data_selector=data_selector,
        session=session or http_session(),
    )


def batched(pages: Iterable[tuple[list[dict], str]], rows: int = BATCH_ROWS) -> Iterator[tuple[list[dict], list[str]]]:
    """Join ``(records, page position)`` pages into batches of about ``rows`` records, each record with its
    position (``<page position>#<index>``): dlt spends time per item, so Arrow tables should be large."""
    records: list[dict] = []
    positions: list[str] = []
    for page, where in pages:
        records.extend(page)
        positions.extend(f"{where}#{i}" for i in range(len(page)))
        if len(records) >= rows:
            yield records, positions
            records, positions = [], []
    if records:
        yield records, positions
