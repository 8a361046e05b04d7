"""The e-mail service provider over Klaviyo's JSON:API: campaigns, profiles and events.

Point it at Klaviyo with ``base_url="https://a.klaviyo.com"`` and a private API key (``JW_ESP_API_URL`` /
``JW_ESP_API_TOKEN``, or dlt config ``SOURCES__ESP__BASE_URL`` and secret ``SOURCES__ESP__ACCESS_TOKEN``);
the demo world serves the same protocol locally under ``/esp``.

- Requests carry ``Authorization: Klaviyo-API-Key <key>`` and ``revision``; the key never appears in a URL,
  a log line or an error. Pages follow ``links.next`` (an absolute URL with ``page[cursor]``), read through
  :mod:`._http` (retries with backoff, ``Retry-After`` honoured; a page without ``data`` or ``links`` is a
  :class:`ProtocolError`, never an empty page).
- Each collection is read incrementally with an inclusive server filter in Klaviyo's syntax
  (``greater-or-equal(datetime,...)`` for events, ``greater-or-equal(updated,...)`` for profiles,
  ``greater-or-equal(updated_at,...)`` for campaigns) from the :class:`Cursor` position minus the lag window
  (``lag_seconds``, default one hour): late rows and ties at the cursor are read again and merged on ``id``.
- JSON:API resources are flattened (attributes, related ids, the metric's name from ``included``, the
  campaign from the event's ``$message``) and conformed to a :class:`Contract`: typed from the contract,
  newest version per id, bad or future-dated records to ``<table>__quarantine`` with the reason.
- An event must name its profile and metric; one that does not is quarantined (it can never be linked to
  anybody). The e-mail lives on the profile, not on the event: an event whose profile has no e-mail (yet) is
  kept, and staging links it through ``profile_id`` once the profile has one.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable, Iterator

import dlt
import requests
from dlt.common import jsonpath
from dlt.sources.helpers.rest_client.paginators import JSONLinkPaginator

from ._contracts import (
    DEFAULT_FUTURE_TOLERANCE,
    DEFAULT_LAG,
    SCHEMA_CONTRACT,
    Col,
    Contract,
    Cursor,
    batch_items,
    conform,
    quarantine_item,
    seconds,
)
from ._http import ProtocolError, SecretHeaders, StrictRESTClient, _where, batched, http_session

REVISION = "2024-10-15"

CAMPAIGNS = Contract(
    "campaigns",
    (
        Col("id", "text", nullable=False),
        Col("name", "text"),
        Col("subject", "text"),
        Col("status", "text"),
        Col("archived", "bool"),
        Col("created_at", "timestamp"),
        Col("scheduled_at", "timestamp"),
        Col("send_time", "timestamp"),
        Col("updated_at", "timestamp", nullable=False),
    ),
    primary_key=("id",),
    cursor="updated_at",
)
PROFILES = Contract(
    "profiles",
    (
        Col("id", "text", nullable=False),
        Col("email", "text", identifier=True),
        Col("phone_number", "text", identifier=True),
        Col("external_id", "text"),
        Col("first_name", "text"),
        Col("last_name", "text"),
        Col("postcode", "text"),  # location.zip
        Col("city", "text"),  # location.city
        Col("email_consent", "text"),  # SUBSCRIBED | UNSUBSCRIBED | NEVER_SUBSCRIBED ...
        Col("email_consent_at", "timestamp"),
        Col("email_consent_method", "text"),  # FORM | UNSUBSCRIBE_LINK | ...
        Col("email_double_optin", "bool"),  # the consent was confirmed from the e-mail (email_consent_at = then)
        Col("created", "timestamp"),
        Col("updated", "timestamp", nullable=False),
    ),
    primary_key=("id",),
    cursor="updated",
)
EVENTS = Contract(
    "events",
    (
        Col("id", "text", nullable=False),
        Col("profile_id", "text", nullable=False),
        Col("metric_id", "text", nullable=False),
        Col("metric_name", "text"),
        Col("campaign_id", "text"),
        Col("datetime", "timestamp", nullable=False),
        Col("timestamp", "bigint"),
        Col("uuid", "text"),
    ),
    primary_key=("id",),
    cursor="datetime",
)
CONTRACTS = (CAMPAIGNS, PROFILES, EVENTS)


class JsonApiClient(StrictRESTClient):
    """dlt's REST client for JSON:API: ``data`` must be a list and ``links`` present (else :class:`ProtocolError`);
    the page's ``included`` resources are kept on the response (``response.included``)."""

    def extract_response(self, response: requests.Response, data_selector: jsonpath.TJsonPath) -> list[Any]:
        try:
            document = response.json()
        except ValueError:
            raise ProtocolError(f"{_where(response)}: the body is not JSON") from None
        if not isinstance(document, dict) or "data" not in document:
            raise ProtocolError(f"{_where(response)}: no `data` in the response")
        if not isinstance(document["data"], list):
            raise ProtocolError(f"{_where(response)}: `data` is not a list")
        if not isinstance(document.get("links"), dict):
            raise ProtocolError(f"{_where(response)}: no `links` in the response")
        included = document.get("included") or []
        response.included = included if isinstance(included, list) else []  # type: ignore[attr-defined]
        response.document = document  # type: ignore[attr-defined]  # parsed once: the paginator reads links here
        return document["data"]


class LinksNextPaginator(JSONLinkPaginator):
    """``links.next`` of a JSON:API page, read from the document :class:`JsonApiClient` already parsed."""

    def __init__(self) -> None:
        super().__init__(next_url_path="links.next")

    def update_state(self, response: requests.Response, data: list[Any] | None = None) -> None:
        document = getattr(response, "document", None)
        if document is None:
            return super().update_state(response, data)
        self._next_reference = (document.get("links") or {}).get("next")


def _utc(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _link(relationships: Any, name: str) -> Any:
    """The id a to-one relationship points at (None when absent or null)."""
    if not isinstance(relationships, dict):
        return None
    data = (relationships.get(name) or {}).get("data") if isinstance(relationships.get(name), dict) else None
    return data.get("id") if isinstance(data, dict) else None


def _scalars(record: dict, skip: tuple[str, ...] = ()) -> dict:
    """The record's id and its scalar attributes (nested objects are taken apart by each flattener)."""
    attributes = record.get("attributes")
    flat = {}
    if isinstance(attributes, dict):
        flat = {k: v for k, v in attributes.items() if k not in skip and not isinstance(v, (dict, list))}
    flat["id"] = record.get("id")
    return flat


def flatten_event(record: Any, metric_names: dict[str, str]) -> Any:
    if not isinstance(record, dict):
        return record  # conform quarantines it: not a JSON object
    flat = _scalars(record)
    relationships = record.get("relationships")
    properties = (record.get("attributes") or {}).get("event_properties") if isinstance(record.get("attributes"), dict) else None
    flat["profile_id"] = _link(relationships, "profile")
    flat["metric_id"] = _link(relationships, "metric")
    flat["metric_name"] = metric_names.get(flat["metric_id"]) if isinstance(flat["metric_id"], str) else None
    # a campaign's events name it in $message; other custom properties (free-form, may carry PII) stay out
    flat["campaign_id"] = properties.get("$message") if isinstance(properties, dict) else None
    return flat


def flatten_profile(record: Any) -> Any:
    if not isinstance(record, dict):
        return record
    # names and postcode/city (identity matching), the address and the consent; not the rest of the location or
    # custom properties
    flat = _scalars(record, skip=("organization", "title", "image", "locale", "anonymous_id", "last_event_date", "location"))
    attributes = record.get("attributes") if isinstance(record.get("attributes"), dict) else {}
    location = attributes.get("location")
    if isinstance(location, dict):
        flat["postcode"], flat["city"] = location.get("zip"), location.get("city")
    marketing = ((attributes.get("subscriptions") or {}).get("email") or {}).get("marketing") or {}
    if isinstance(marketing, dict):
        flat["email_consent"] = marketing.get("consent")
        flat["email_consent_at"] = marketing.get("consent_timestamp")
        flat["email_consent_method"] = marketing.get("method")
        flat["email_double_optin"] = marketing.get("double_optin")
    return flat


def flatten_campaign(record: Any, subjects: dict[str, str]) -> Any:
    if not isinstance(record, dict):
        return record
    flat = _scalars(record)
    relationships = record.get("relationships")
    linkage = ((relationships or {}).get("campaign-messages") or {}).get("data") if isinstance(relationships, dict) else None
    messages = [ref.get("id") for ref in linkage if isinstance(ref, dict)] if isinstance(linkage, list) else []
    flat["subject"] = next((subjects[m] for m in messages if m in subjects), None)
    return flat


@dlt.source(name="esp")
def esp_source(
    base_url: str = dlt.config.value,
    access_token: str = dlt.secrets.value,
    page_size: int = 100,
    lag_seconds: float | None = None,
    future_tolerance_seconds: float | None = None,
    revision: str = REVISION,
):
    """Campaigns, profiles and events of a Klaviyo account (or the demo ESP). ``page_size``: events and
    profiles per page (Klaviyo allows up to 100 for profiles, 200 for events); ``lag_seconds``: how far
    before the last position each run reads again (late rows); ``future_tolerance_seconds``: how far in the
    future a record may be dated before it is quarantined (``SOURCES__ESP__LAG_SECONDS`` etc.)."""
    lag = seconds(lag_seconds, DEFAULT_LAG)
    tolerance = seconds(future_tolerance_seconds, DEFAULT_FUTURE_TOLERANCE)
    client = JsonApiClient(
        base_url=base_url.rstrip("/"),
        headers={"revision": revision, "accept": "application/vnd.api+json"},
        auth=SecretHeaders({"Authorization": f"Klaviyo-API-Key {access_token}"}),  # auth: dlt's debug log prints headers
        paginator=LinksNextPaginator(),
        data_selector="data",
        session=http_session(),
    )

    def pages(path: str, params: dict, flatten) -> Iterator[tuple[list, str]]:
        for number, page in enumerate(client.paginate(path, params=params)):
            yield flatten(page, getattr(page.response, "included", [])), f"/{path} page {number}"

    def load(contract: Contract, path: str, params_at, flatten) -> Iterable:
        cursor = Cursor(lag=lag)
        quarantined = 0
        for records, positions in batched(pages(path, params_at(_utc(cursor.start)), flatten)):
            batch = conform(records, contract, position=positions, future_tolerance=tolerance)
            yield from batch_items(batch, contract)
            quarantined += len(batch.quarantine)
            cursor.advance(batch.max_cursor)
        if not quarantined:  # the quarantine table exists even when nothing was refused (dbt reads it)
            yield quarantine_item(contract.table, [])

    def campaign_page(page: list, included: list) -> list:
        subjects = {
            r.get("id"): ((r.get("attributes") or {}).get("content") or {}).get("subject")
            for r in included
            if isinstance(r, dict) and r.get("type") == "campaign-message"
        }
        return [flatten_campaign(r, subjects) for r in page]

    metric_names: dict[str, str] = {}

    def event_page(page: list, included: list) -> list:
        metric_names.update(
            {r.get("id"): (r.get("attributes") or {}).get("name") for r in included if isinstance(r, dict) and r.get("type") == "metric"}
        )
        return [flatten_event(r, metric_names) for r in page]

    resource = dict(write_disposition="merge", primary_key="id", schema_contract=SCHEMA_CONTRACT, file_format="parquet")

    @dlt.resource(name="campaigns", **resource)
    def campaigns():
        yield from load(
            CAMPAIGNS,
            "api/campaigns",
            lambda start: {
                "filter": f"and(equals(messages.channel,'email'),greater-or-equal(updated_at,{start}))",
                "sort": "updated_at",
                "include": "campaign-messages",
            },
            campaign_page,
        )

    @dlt.resource(name="profiles", **resource)
    def profiles():
        yield from load(
            PROFILES,
            "api/profiles",
            lambda start: {
                "filter": f"greater-or-equal(updated,{start})",
                "sort": "updated",
                "page[size]": page_size,
                "additional-fields[profile]": "subscriptions",
            },
            lambda page, _: [flatten_profile(r) for r in page],
        )

    @dlt.resource(name="events", **resource)
    def events():
        yield from load(
            EVENTS,
            "api/events",
            lambda start: {
                "filter": f"greater-or-equal(datetime,{start})",
                "sort": "datetime",
                "page[size]": page_size,
                "include": "metric",
            },
            event_page,
        )

    return campaigns, profiles, events
