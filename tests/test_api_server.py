"""What the demo HTTP server gives every system: the fault switch, strict pages, the leaky bucket.

Each system's protocol has its own tests: tests/test_shop_api.py, tests/test_esp_api.py, tests/test_social_api.py."""

import pytest

from ingestion.demo_world.api_server import DEMO_TOKENS, serve

CUSTOMERS = "/shop/admin/api/2024-07/customers.json"
TOKEN = {"X-Shopify-Access-Token": DEMO_TOKENS["shop"]}


def test_unknown_system_is_404(small_systems):
    import requests

    with serve(small_systems / "api") as base:
        assert requests.get(f"{base}/nowhere/customers", timeout=10).status_code == 404


def test_injected_faults_are_retried_by_the_sources_http_session(small_systems):
    from ingestion.demo_world.api_server import DEMO_TOKENS, Faults
    from ingestion.sources._http import http_session

    faults = Faults(0.5, seed=3, kinds=("500", "503", "truncated", "reset", "429"))
    session = http_session(backoff=0.01, max_delay=0.05, max_attempts=30)
    with serve(small_systems / "api", faults=faults) as base:
        url, token = f"{base}/shop/admin/api/2024-07/customers.json", {"X-Shopify-Access-Token": DEMO_TOKENS["shop"]}
        bodies = [session.get(url, params={"limit": 5}, headers=token, timeout=10) for _ in range(20)]
    assert all(r.status_code == 200 and len(r.json()["customers"]) == 5 for r in bodies)
    assert all(faults.injected[kind] > 0 for kind in faults.kinds), faults.injected


def test_a_page_without_its_data_key_is_a_protocol_error_not_an_empty_page(small_systems):
    from dlt.sources.helpers.rest_client.paginators import SinglePagePaginator

    from ingestion.demo_world.api_server import DEMO_TOKENS
    from ingestion.sources._http import ProtocolError, rest_client

    with serve(small_systems / "api") as base:
        token = {"X-Shopify-Access-Token": DEMO_TOKENS["shop"]}
        client = rest_client(f"{base}/shop", paginator=SinglePagePaginator(), data_selector="records", headers=token)
        with pytest.raises(ProtocolError, match=r"GET /shop/admin/api/2024-07/customers.json \(200\): no `records`"):
            list(client.paginate("admin/api/2024-07/customers.json"))


def test_leaky_bucket_refuses_beyond_capacity_and_drains_over_time():
    import time

    from ingestion.demo_world.api_server import LeakyBucket

    bucket = LeakyBucket(capacity=3, leak_rate=20)
    assert [bucket.take()[0] for _ in range(4)] == [True, True, True, False]
    time.sleep(0.1)
    assert bucket.take()[0]
