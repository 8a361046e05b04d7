"""The online shop: Shopify's Admin REST API (customers, orders with their lines, abandoned checkouts, deletes)
and the storefront's web-analytics collector (events).

Point it at a real shop with ``base_url`` = ``https://<shop>.myshopify.com`` and an Admin API access token
(``SOURCES__SHOP__ACCESS_TOKEN`` or ``JW_SHOP_API_TOKEN``); ``events_base_url`` is where the collector's
export lives (default: ``base_url``, as in the demo world).

- Admin API: ``GET /admin/api/2024-07/<endpoint>.json?updated_at_min=<UTC>&limit=250`` with the token in the
  ``X-Shopify-Access-Token`` header, then the ``Link: <...page_info=...>; rel="next"`` URLs (dlt's
  ``HeaderLinkPaginator``: with ``page_info`` Shopify takes no other filter, and dlt sends none). Orders are
  asked for with ``status=any`` (Shopify's default is open orders only). 429s (leaky bucket) and transient
  faults are retried with backoff (``_http.http_session``).
- Every record goes through a :class:`Contract`: typed (money as decimals, timestamps with the shop's offset
  as UTC), match keys (e-mail, phone, handle) stripped of every space incl. zero-width ones; a record that
  breaks it, with its lines, goes to ``<table>__quarantine`` with the reason; the newest version of a key wins.
- Incremental: a :class:`Cursor` per resource (UTC, in dlt state, committed with the load), read again from a
  lag window before it (``lag_seconds``, default 1 h) so late updates and a change at the cursor that kept its
  ``updated_at`` still arrive; records dated beyond ``future_tolerance_seconds`` (default 1 day) are
  quarantined and never move a cursor.
- Deletes: the Events API (``events.json?filter=Customer&verb=destroy`` and ``verb=redact`` for customers
  erased on a GDPR ``customers/redact`` request) gives the ids; they reach ``customers`` as rows whose
  ``deleted_at`` is set, which dlt's ``hard_delete`` hint turns into deletes (a marker for a customer never
  loaded deletes nothing). A customer erased and still in this run's pages is left out of them, so its marker
  is the only row of its key in the load.
- Line items are nested in their order (``line_items``) and land in ``orders__lines`` /
  ``abandoned_checkouts__lines`` keyed (``order_id`` | ``checkout_id``, ``id``), replaced per parent on merge;
  they arrive and are quarantined only with their parent, so no line is ever loaded without its order.
- Product reviews: ``GET /admin/api/2024-07/reviews.json?updated_at_min=`` (the reviews app beside the Admin
  API), incremental and merged on ``id`` like the others; a rating outside 1..5 stars is quarantined.
- Products: ``GET /admin/api/2024-07/products.json?updated_at_min=`` (the catalogue with each variant's price and
  stock), incremental and merged on ``id``; the variants land in ``products__variants`` keyed (``product_id``,
  ``id``), replaced per product like order lines. The real-time offers read the stock from there.
- Storefront events: ``GET /collector/v1/events?after=<UTC>&limit=1000`` (``Authorization: Bearer``), paged
  by ``next_cursor``; incremental on ``collector_tstamp`` (when the collector received the event: a phone
  that was offline sends old events late, and they still arrive).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable, Iterator

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.sources.helpers.rest_client.paginators import HeaderLinkPaginator, JSONResponseCursorPaginator

from ._contracts import (
    DEFAULT_FUTURE_TOLERANCE,
    Batch,
    DEFAULT_LAG,
    SCHEMA_CONTRACT,
    Child,
    Col,
    Contract,
    Cursor,
    batch_items,
    conform,
    quarantine_item,
    quarantine_row,
    seconds,
)
from ._http import batched, http_session, rest_client

API_VERSION = "2024-07"
ADMIN = f"admin/api/{API_VERSION}"
MAX_PAGE_SIZE = 250
COLLECTOR_PAGE_SIZE = 1000
ERASURE_VERBS = ("destroy", "redact")


def _lines(table: str, parent_key: str) -> Contract:
    return Contract(
        table,
        (
            Col(parent_key, "bigint", nullable=False),
            Col("id", "bigint", nullable=False),
            Col("product_id", "bigint"),
            Col("variant_id", "bigint"),
            Col("sku", "text"),
            Col("title", "text"),
            Col("quantity", "bigint", nullable=False),
            Col("price", "decimal", nullable=False),
        ),
        primary_key=(parent_key, "id"),
    )


CUSTOMERS = Contract(
    "customers",
    (
        Col("id", "bigint", nullable=False),
        Col("email", "text", identifier=True),
        Col("first_name", "text"),
        Col("last_name", "text"),
        Col("phone", "text", identifier=True),
        Col("social_handle", "text", identifier=True),
        Col("postcode", "text"),  # default_address.zip
        Col("city", "text"),  # default_address.city
        Col("accepts_marketing", "bool"),
        Col("accepts_marketing_updated_at", "timestamp"),  # when the customer last decided (null: never asked)
        Col("marketing_opt_in_level", "text"),  # single_opt_in | confirmed_opt_in (double opt-in) | null
        Col("state", "text"),
        Col("created_at", "timestamp"),
        Col("updated_at", "timestamp", nullable=False),
        Col("deleted_at", "timestamp"),  # set only on the delete markers built from the Events API
    ),
    primary_key=("id",),
    cursor="updated_at",
)
ORDER_LINES = _lines("orders__lines", "order_id")
ORDERS = Contract(
    "orders",
    (
        Col("id", "bigint", nullable=False),
        Col("customer_id", "bigint"),
        Col("financial_status", "text"),
        Col("fulfillment_status", "text"),
        Col("currency", "text"),
        Col("total_price", "decimal", nullable=False),
        Col("created_at", "timestamp", nullable=False),
        Col("updated_at", "timestamp", nullable=False),
        Col("closed_at", "timestamp"),
        Col("cancelled_at", "timestamp"),
    ),
    primary_key=("id",),
    cursor="updated_at",
    children=(Child("line_items", ORDER_LINES, parent_key="order_id"),),
)
CHECKOUT_LINES = _lines("abandoned_checkouts__lines", "checkout_id")
CHECKOUTS = Contract(
    "abandoned_checkouts",
    (
        Col("id", "bigint", nullable=False),
        Col("customer_id", "bigint"),
        Col("email", "text", identifier=True),
        Col("currency", "text"),
        Col("total_price", "decimal", nullable=False),
        Col("created_at", "timestamp", nullable=False),
        Col("updated_at", "timestamp", nullable=False),
        Col("completed_at", "timestamp"),
    ),
    primary_key=("id",),
    cursor="updated_at",
    children=(Child("line_items", CHECKOUT_LINES, parent_key="checkout_id"),),
)
# Events API records about customers (quarantined into customers__quarantine when malformed)
CUSTOMER_EVENTS = Contract(
    "customer_events",
    (
        Col("id", "bigint", nullable=False),
        Col("subject_id", "bigint", nullable=False),
        Col("subject_type", "text", nullable=False),
        Col("verb", "text", nullable=False),
        Col("message", "text"),
        Col("created_at", "timestamp", nullable=False),
    ),
    primary_key=("id",),
    cursor="created_at",
)
# Product reviews (the reviews app next to the Admin API): the reviewer's customer id, never a name or address
REVIEWS = Contract(
    "reviews",
    (
        Col("id", "bigint", nullable=False),
        Col("product_id", "bigint"),
        Col("customer_id", "bigint"),
        Col("rating", "bigint", nullable=False),  # 1..5 stars; anything else is quarantined
        Col("title", "text"),
        Col("body", "text"),
        Col("created_at", "timestamp", nullable=False),
        Col("updated_at", "timestamp", nullable=False),
    ),
    primary_key=("id",),
    cursor="updated_at",
)
RATINGS = range(1, 6)
VARIANTS = Contract(
    "products__variants",
    (
        Col("product_id", "bigint", nullable=False),
        Col("id", "bigint", nullable=False),
        Col("sku", "text"),
        Col("price", "decimal", nullable=False),
        Col("inventory_quantity", "bigint"),  # units in stock (Shopify: negative when oversold)
        Col("updated_at", "timestamp"),
    ),
    primary_key=("product_id", "id"),
)
PRODUCTS = Contract(
    "products",
    (
        Col("id", "bigint", nullable=False),
        Col("title", "text"),
        Col("product_type", "text"),  # the category
        Col("status", "text"),  # active | archived | draft
        Col("created_at", "timestamp"),
        Col("updated_at", "timestamp", nullable=False),
    ),
    primary_key=("id",),
    cursor="updated_at",
    children=(Child("variants", VARIANTS, parent_key="product_id"),),
)
STOREFRONT_EVENTS = Contract(
    "events",
    (
        Col("event_id", "text", nullable=False),
        Col("event", "text", nullable=False),
        Col("collector_tstamp", "timestamp", nullable=False),
        Col("derived_tstamp", "timestamp", nullable=False),
        Col("domain_userid", "text"),
        Col("domain_sessionid", "text"),
        Col("user_id", "text"),
        Col("page_url", "text"),
        Col("page_urlpath", "text"),
        Col("product_id", "bigint"),
        Col("mkt_source", "text"),
        Col("mkt_medium", "text"),
        Col("mkt_campaign", "text"),
    ),
    primary_key=("event_id",),
    cursor="collector_tstamp",
)


def _customer_id(record: dict) -> None:
    """Shopify nests the buyer (``customer: {id, email, ...}``): keep its id, never its personal data."""
    if isinstance(record, dict) and "customer" in record:
        customer = record.pop("customer")
        record["customer_id"] = customer.get("id") if isinstance(customer, dict) else customer


def _default_address(record: dict) -> None:
    """Shopify nests the customer's ``default_address``: keep its postcode and city (for matching), not the street."""
    if isinstance(record, dict) and "default_address" in record:
        address = record.pop("default_address")
        if isinstance(address, dict):
            record["postcode"], record["city"] = address.get("zip"), address.get("city")
        elif address is not None:
            record["postcode"] = address  # not an object: the contract quarantines what does not fit


def _utc(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat()


def _resource_hints(contract: Contract) -> dict:
    return dict(
        name=contract.table,
        primary_key=list(contract.primary_key),
        write_disposition="merge",
        schema_contract=SCHEMA_CONTRACT,
        file_format="parquet",
    )


@dlt.source(name="shop")
def shop_source(
    base_url: str = dlt.config.value,
    access_token: str = dlt.secrets.value,
    page_size: int = MAX_PAGE_SIZE,
    lag_seconds: float | None = None,
    future_tolerance_seconds: float | None = None,
    events_base_url: str | None = None,
    events_page_size: int = COLLECTOR_PAGE_SIZE,
):
    """Args:
        base_url: the shop, e.g. ``https://<shop>.myshopify.com`` (the demo: ``<server>/shop``).
        access_token: Admin API access token (also the collector export's bearer token).
        page_size: records per Admin API page (1..250).
        lag_seconds: how far before its cursor each resource reads again (default 3600).
        future_tolerance_seconds: how far ahead of now a record may be dated before it is quarantined (86400).
        events_base_url: where the storefront collector's export is (default ``base_url``).
        events_page_size: storefront events per page (1..1000).
    """
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
    lag = seconds(lag_seconds, DEFAULT_LAG)
    tolerance = seconds(future_tolerance_seconds, DEFAULT_FUTURE_TOLERANCE)
    admin = rest_client(
        base_url,
        paginator=HeaderLinkPaginator(links_next_key="next"),
        data_selector="$",  # each endpoint names its own envelope
        secret_headers={"X-Shopify-Access-Token": access_token},  # never logged
        session=http_session(),
    )
    collector = rest_client(
        events_base_url or base_url,
        paginator=JSONResponseCursorPaginator(cursor_path="next_cursor", cursor_param="cursor"),
        data_selector="events",
        secret_headers={"Authorization": f"Bearer {access_token}"},
        session=http_session(),
    )

    def pages(endpoint: str, envelope: str, params: dict, client=admin) -> Iterator[tuple[list, str]]:
        path = f"{ADMIN}/{endpoint}.json" if client is admin else endpoint
        for number, page in enumerate(client.paginate(path, params=params, data_selector=envelope), start=1):
            yield page, f"{endpoint} page {number}"

    def incremental(contract: Contract, endpoint: str, envelope: str, extra: dict | None = None,
                    prepare: Callable[[dict], None] | None = None):
        cursor = Cursor(lag=lag)
        params = {"limit": page_size, "updated_at_min": _utc(cursor.start), **(extra or {})}
        for records, positions in batched(pages(endpoint, envelope, params)):
            if prepare:
                for record in records:
                    prepare(record)
            batch = conform(records, contract, position=positions, future_tolerance=tolerance)
            yield from batch_items(batch, contract)
            cursor.advance(batch.max_cursor)

    @dlt.resource(**_resource_hints(CUSTOMERS))
    def customers():
        erased, quarantined = erasures()
        erased_ids = pa.array(list(erased), pa.int64())
        for item in incremental(CUSTOMERS, "customers", "customers", None, _default_address):
            if isinstance(item, pa.Table) and erased:  # an account erased since: its delete marker wins
                item = item.filter(pc.invert(pc.is_in(item["id"], erased_ids)))
            yield item
        if erased:
            yield dlt.mark.with_hints(
                _delete_markers(erased),
                dlt.mark.make_hints(table_name=CUSTOMERS.table, columns=[DELETE_HINT]),
                create_table_variant=True,
            )
        if quarantined:
            yield quarantine_item(CUSTOMERS.table, quarantined)

    def erasures() -> tuple[dict[int, datetime], list[dict]]:
        """Customers deleted or redacted since the last run (id -> when), and the malformed events."""
        cursor = Cursor(lag=lag, state=dlt.current.resource_state().setdefault("erasures", {}))
        erased: dict[int, datetime] = {}
        quarantined: list[dict] = []
        for verb in ERASURE_VERBS:
            params = {"filter": "Customer", "verb": verb, "created_at_min": _utc(cursor.start), "limit": page_size}
            for records, positions in batched(pages("events", "events", params)):
                batch = conform(records, CUSTOMER_EVENTS, position=positions, future_tolerance=tolerance)
                events = batch.table.filter(
                    pc.and_(pc.equal(batch.table["subject_type"], "Customer"), pc.is_in(batch.table["verb"], pa.array(ERASURE_VERBS)))
                )
                for subject, at in zip(events["subject_id"].to_pylist(), events["created_at"].to_pylist()):
                    erased[subject] = max(at, erased.get(subject, at))
                quarantined.extend(batch.quarantine)
                cursor.advance(batch.max_cursor)
        return erased, quarantined

    @dlt.resource(**_resource_hints(ORDERS))
    def orders():
        yield from incremental(ORDERS, "orders", "orders", {"status": "any"}, _customer_id)

    @dlt.resource(**_resource_hints(CHECKOUTS))
    def abandoned_checkouts():
        yield from incremental(CHECKOUTS, "checkouts", "checkouts", None, _customer_id)

    @dlt.resource(**_resource_hints(REVIEWS))
    def reviews():
        cursor = Cursor(lag=lag)
        params = {"limit": page_size, "updated_at_min": _utc(cursor.start)}
        for records, positions in batched(pages("reviews", "reviews", params)):
            for record in records:
                _customer_id(record)
            batch = conform(records, REVIEWS, position=positions, future_tolerance=tolerance)
            _quarantine_bad_ratings(batch, records, positions)
            yield from batch_items(batch, REVIEWS)
            cursor.advance(batch.max_cursor)

    @dlt.resource(**_resource_hints(PRODUCTS))
    def products():
        yield from incremental(PRODUCTS, "products", "products")

    @dlt.resource(**_resource_hints(STOREFRONT_EVENTS))
    def events():
        cursor = Cursor(lag=lag)
        params = {"after": _utc(cursor.start), "limit": events_page_size}
        for records, positions in batched(pages("collector/v1/events", "events", params, client=collector)):
            batch = conform(records, STOREFRONT_EVENTS, position=positions, future_tolerance=tolerance)
            yield from batch_items(batch, STOREFRONT_EVENTS)
            cursor.advance(batch.max_cursor)

    return customers, orders, abandoned_checkouts, events, reviews, products


def _quarantine_bad_ratings(batch: Batch, records: list, positions: list[str]) -> None:
    """Move reviews whose rating is not 1..5 stars from the batch to its quarantine (key, position, reason)."""
    table = batch.table
    ok = pc.and_(pc.greater_equal(table["rating"], RATINGS.start), pc.less(table["rating"], RATINGS.stop))
    if pc.all(ok).as_py():
        return
    where = {r.get("id"): p for r, p in zip(records, positions) if isinstance(r, dict)}  # the newest copy's position
    now = datetime.now(timezone.utc)
    for key in table.filter(pc.invert(ok))["id"].to_pylist():
        batch.quarantine.append(quarantine_row(REVIEWS.table, str(key), where.get(key, "?"), "rating: must be between 1 and 5", now))
    batch.table = table.filter(ok)


# dlt deletes the row of every key whose marker has this column set, and inserts nothing for it
DELETE_HINT = {"name": "deleted_at", "data_type": "timestamp", "nullable": True, "hard_delete": True}


def _delete_markers(newest: dict[int, datetime]) -> pa.Table:
    """One ``customers`` row per erased customer: its id, ``updated_at`` = ``deleted_at`` = when it was erased."""
    schema = CUSTOMERS.arrow_schema()
    ids, times = list(newest), list(newest.values())
    columns = {name: pa.nulls(len(ids), schema.field(name).type) for name in schema.names}
    columns.update(
        id=pa.array(ids, pa.int64()),
        updated_at=pa.array(times, schema.field("updated_at").type),
        deleted_at=pa.array(times, schema.field("deleted_at").type),
    )
    return pa.Table.from_arrays([columns[name] for name in schema.names], schema=schema)
