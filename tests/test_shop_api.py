"""The demo shop speaks Shopify's Admin REST API (and a collector export for storefront events), row for row
against the generator's world: pagination, filters, auth header, rate limit, error bodies."""

import re
import time
from datetime import datetime, timezone

import pytest
import requests

from ingestion.demo_world.api_server import DEMO_TOKENS, serve
from ingestion.demo_world.apis import shop as shop_app

ADMIN = "/shop/admin/api/2024-07"
TOKEN = DEMO_TOKENS["shop"]
AUTH = {"X-Shopify-Access-Token": TOKEN}


@pytest.fixture()
def api(small_systems):
    with serve(small_systems / "api", systems=("shop",)) as base_url:
        yield base_url


def walk(url, params, headers=AUTH):
    """Follow the Link headers as a Shopify client does; returns (records, pages, responses)."""
    records, responses = [], []
    envelope = url.rsplit("/", 1)[-1].removesuffix(".json")
    while url:
        response = requests.get(url, params=params, headers=headers, timeout=10)
        assert response.status_code == 200, response.text
        responses.append(response)
        records.extend(response.json()[envelope])
        url, params = response.links.get("next", {}).get("url"), None
    return records, len(responses), responses


def utc(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


@pytest.mark.parametrize(
    "endpoint, table", [("customers", "customers"), ("orders", "orders"), ("checkouts", "abandoned_checkouts"), ("products", "products")]
)
def test_link_pagination_walks_every_record_once_in_id_order(api, small_world, endpoint, table):
    params = {"limit": 7, **({"status": "any"} if endpoint == "orders" else {})}
    records, pages, responses = walk(f"{api}{ADMIN}/{endpoint}.json", params)
    expected = small_world.shop[table]
    assert records == sorted(expected, key=lambda r: r["id"])  # every record, once, exactly as generated
    assert pages == -(-len(expected) // 7)
    assert "previous" not in responses[0].links and "previous" in responses[1].links
    assert re.fullmatch(r".*\?limit=7&page_info=[\w-]+", responses[0].links["next"]["url"])


def test_money_is_text_and_times_carry_the_shops_offset(small_world):
    order = small_world.shop["orders"][0]
    assert re.fullmatch(r"\d+\.\d\d", order["total_price"]) and re.fullmatch(r"\d+\.\d\d", order["line_items"][0]["price"])
    offsets = {c["updated_at"][-6:] for c in small_world.shop["customers"]}
    assert offsets == {"+02:00"}  # September in Berlin
    assert shop_app.API_VERSION == "2024-07"
    from ingestion.demo_world.generator import shop_time

    assert shop_time(datetime(2026, 1, 15, 12, tzinfo=timezone.utc)) == "2026-01-15T13:00:00+01:00"
    assert shop_time(datetime(2026, 3, 29, 0, 59, tzinfo=timezone.utc)).endswith("+01:00")
    assert shop_time(datetime(2026, 3, 29, 1, 0, tzinfo=timezone.utc)).endswith("+02:00")


def test_updated_at_min_is_inclusive_and_compared_as_a_point_in_time(api, small_world):
    stamps = sorted(utc(r["updated_at"]) for r in small_world.shop["customers"])
    middle = stamps[len(stamps) // 2]
    as_new_york = middle.astimezone(datetime.fromisoformat("2026-01-01T00:00:00-04:00").tzinfo).isoformat()
    records, _, _ = walk(f"{api}{ADMIN}/customers.json", {"limit": 250, "updated_at_min": as_new_york})
    assert len(records) == sum(s >= middle for s in stamps)
    assert min(utc(r["updated_at"]) for r in records) == middle


def test_orders_default_to_open_ones_as_in_shopify(api, small_world):
    assert walk(f"{api}{ADMIN}/orders.json", {"limit": 250})[0] == []  # every demo order is closed (fulfilled)
    assert len(walk(f"{api}{ADMIN}/orders.json", {"limit": 250, "status": "any"})[0]) == len(small_world.shop["orders"])


def test_events_api_filters_by_subject_verb_and_time(api, small_world):
    events = small_world.shop["customer_events"]
    destroyed, _, _ = walk(f"{api}{ADMIN}/events.json", {"filter": "Customer", "verb": "destroy"})
    assert destroyed == [e for e in events if e["verb"] == "destroy"] and destroyed
    redacted, _, _ = walk(f"{api}{ADMIN}/events.json", {"filter": "Customer", "verb": "redact"})
    assert redacted == [e for e in events if e["verb"] == "redact"] and redacted
    assert walk(f"{api}{ADMIN}/events.json", {"filter": "Order"})[0] == []
    latest = max(utc(e["created_at"]) for e in events)
    assert len(walk(f"{api}{ADMIN}/events.json", {"created_at_min": latest.isoformat()})[0]) == 1


@pytest.mark.parametrize(
    "params, message",
    [
        ({"limit": 251}, "limit: must be between 1 and 250"),
        ({"limit": "ten"}, "limit: expected an integer"),
        ({"updated_at_min": "yesterday"}, "updated_at_min: expected an ISO-8601 time"),
        ({"updated_at_min": "2026-09-01T00:00:00"}, "updated_at_min: needs a time zone offset"),
        ({"page_info": "not-a-cursor"}, "page_info: invalid value"),
        ({"since": "2026-09-01T00:00:00Z"}, "unknown parameter(s): since"),
    ],
)
def test_bad_parameters_get_a_400_with_shopifys_error_body(api, params, message):
    response = requests.get(f"{api}{ADMIN}/customers.json", params=params, headers=AUTH, timeout=10)
    assert response.status_code == 400
    assert response.json() == {"errors": message}


def test_page_info_takes_no_other_filter(api):
    first = requests.get(f"{api}{ADMIN}/customers.json", params={"limit": 5}, headers=AUTH, timeout=10)
    page_info = re.search(r"page_info=([\w-]+)", first.links["next"]["url"]).group(1)
    response = requests.get(
        f"{api}{ADMIN}/customers.json",
        params={"limit": 5, "page_info": page_info, "updated_at_min": "2026-09-01T00:00:00Z"},
        headers=AUTH,
        timeout=10,
    )
    assert response.status_code == 400 and "updated_at_min" in response.json()["errors"]


@pytest.mark.parametrize("headers", [{}, {"X-Shopify-Access-Token": "wrong"}, {"Authorization": f"Bearer {TOKEN}"}])
def test_the_admin_api_wants_the_token_in_its_header(api, headers):
    response = requests.get(f"{api}{ADMIN}/customers.json", headers=headers, timeout=10)
    assert response.status_code == 401
    assert "errors" in response.json() and TOKEN not in response.text


def test_unknown_paths_are_404(api):
    assert requests.get(f"{api}{ADMIN}/refunds.json", headers=AUTH, timeout=10).status_code == 404
    assert requests.get(f"{api}/shop/customers", headers=AUTH, timeout=10).status_code == 404


def test_every_answer_reports_the_bucket_and_a_full_bucket_answers_429(small_systems):
    """Shopify's real numbers: a bucket of 40 calls that leaks 2 per second."""
    with serve(small_systems / "api", systems=("shop",), options={"shop": {"bucket": (40, 2)}}) as base:
        url = f"{base}{ADMIN}/customers.json"
        started, answers = time.monotonic(), []
        while len(answers) < 200 and (not answers or answers[-1].status_code == 200):
            answers.append(requests.get(url, params={"limit": 1}, headers=AUTH, timeout=10))
        elapsed = time.monotonic() - started
        refused, served = answers[-1], len(answers) - 1
        assert refused.status_code == 429
        assert 40 <= served <= 40 + 2 * elapsed + 1  # the bucket leaks 2 calls a second while we ask
        assert answers[0].headers["X-Shopify-Shop-Api-Call-Limit"] == "1/40"
        assert re.fullmatch(r"(39|40)/40", answers[-2].headers["X-Shopify-Shop-Api-Call-Limit"])
        assert refused.headers["Retry-After"] == "2.0"
        assert re.fullmatch(r"(39|40)/40", refused.headers["X-Shopify-Shop-Api-Call-Limit"])
        assert "errors" in refused.json()
        time.sleep(0.6)  # leaks one call in half a second
        assert requests.get(url, params={"limit": 1}, headers=AUTH, timeout=10).status_code == 200


def test_the_source_rides_out_the_real_rate_limit(small_systems, small_world, tmp_path, monkeypatch):
    """57 calls against Shopify's 40/2 s bucket: the source is refused, waits, and loads every customer once."""
    from ingestion.pipelines import make_pipeline
    from ingestion.sources.shop import shop_source

    from .conftest import count

    statuses = []
    handle = shop_app.App.handle

    def spy(self, request):
        response = handle(self, request)
        statuses.append(response.status)
        return response

    monkeypatch.setattr(shop_app.App, "handle", spy)
    with serve(small_systems / "api", systems=("shop",), options={"shop": {"bucket": (40, 2)}}) as base:
        source = shop_source(base_url=f"{base}/shop", access_token=TOKEN, page_size=5).with_resources("customers")
        info = make_pipeline("shop", tmp_path / "w.duckdb", tmp_path / "dlt").run(source, loader_file_format="parquet")
    assert not info.has_failed_jobs
    assert statuses.count(429) > 0 and statuses.count(200) == 55 + 2  # 271 customers in pages of 5, two event walks
    assert count(tmp_path / "w.duckdb", "shop.customers") == len(small_world.shop["customers"])


def collect(url, params, headers):
    events, pages = [], 0
    while True:
        response = requests.get(url, params=params, headers=headers, timeout=10)
        assert response.status_code == 200, response.text
        body = response.json()
        events.extend(body["events"])
        pages += 1
        if not body["next_cursor"]:
            return events, pages
        params = {**params, "cursor": body["next_cursor"]}


def test_the_collector_export_pages_every_event_once_in_the_order_received(api, small_world):
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    url = f"{api}/shop/collector/v1/events"
    events, pages = collect(url, {"limit": 500}, bearer)
    expected = sorted(small_world.shop["events"], key=lambda e: (utc(e["collector_tstamp"]), e["event_id"]))
    assert events == expected and pages == -(-len(expected) // 500)
    middle = utc(expected[len(expected) // 2]["collector_tstamp"])
    after, _ = collect(url, {"after": middle.astimezone(datetime.fromisoformat("2026-01-01T00:00:00+05:30").tzinfo).isoformat()}, bearer)
    assert after == [e for e in expected if utc(e["collector_tstamp"]) >= middle]
    assert requests.get(url, headers=AUTH, timeout=10).status_code == 401  # the collector takes a bearer token
    assert requests.get(url, params={"since": "x"}, headers=bearer, timeout=10).status_code == 400


def test_reviews_page_by_link_and_filter_on_updated_at(api, small_world):
    reviews = small_world.shop["reviews"]
    assert len(reviews) >= 3
    records, pages, _ = walk(f"{api}{ADMIN}/reviews.json", {"limit": 1})
    assert records == sorted(reviews, key=lambda r: r["id"]) and pages == len(reviews)
    assert all(set(r) == {"id", "product_id", "customer", "rating", "title", "body", "created_at", "updated_at"} for r in records)
    newest = max(utc(r["updated_at"]) for r in reviews)
    records, _, _ = walk(f"{api}{ADMIN}/reviews.json", {"updated_at_min": newest.isoformat()})
    assert [r["id"] for r in records] == [r["id"] for r in reviews if utc(r["updated_at"]) == newest]
