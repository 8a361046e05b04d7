"""The local stand-in API speaks the protocol the shop/ESP/social sources rely on."""

import json

import pytest
import requests

from ingestion.demo_world.api_server import serve


@pytest.fixture()
def api(small_systems):
    with serve(small_systems / "api") as base_url:
        yield base_url


def fetch_all(url, **params):
    rows, pages, cursor = [], 0, None
    while True:
        body = requests.get(url, params={**params, **({"cursor": cursor} if cursor else {})}, timeout=10).json()
        rows.extend(body["data"])
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            return rows, pages


def test_cursor_pagination_returns_every_row_once(api, small_world):
    rows, pages = fetch_all(f"{api}/shop/customers", limit=7)
    expected = len(small_world.shop["customers"])
    assert len(rows) == expected
    assert len({r["id"] for r in rows}) == expected
    assert pages == -(-expected // 7)
    assert [(r["updated_at"], str(r["id"])) for r in rows] == sorted((r["updated_at"], str(r["id"])) for r in rows)


def test_updated_since_is_inclusive(api, small_world):
    stamps = sorted(r["updated_at"] for r in small_world.esp["events"])
    middle = stamps[len(stamps) // 2]
    rows, _ = fetch_all(f"{api}/esp/events", limit=1000, updated_since=middle)
    assert len(rows) == sum(s >= middle for s in stamps)
    assert min(r["updated_at"] for r in rows) == middle


@pytest.mark.parametrize(
    "query, message",
    [
        ({"limit": 0}, "limit must be between 1 and 1000"),
        ({"limit": "ten"}, "invalid literal"),
        ({"updated_since": "yesterday"}, "Invalid isoformat"),
        ({"updated_since": "2026-09-01T00:00:00"}, "needs a time zone"),
        ({"cursor": "not-a-cursor"}, "bad request"),
    ],
)
def test_bad_parameters_get_a_clear_400(api, query, message):
    response = requests.get(f"{api}/shop/orders", params=query, timeout=10)
    assert response.status_code == 400
    assert message in response.json()["errors"]


def test_unknown_collection_is_404(api):
    response = requests.get(f"{api}/shop/../loyalty", timeout=10)
    assert response.status_code == 404
    assert requests.get(f"{api}/shop/refunds", timeout=10).status_code == 404


def test_snapshot_changes_are_served(api, small_systems):
    path = small_systems / "api" / "social" / "posts.json"
    posts = json.loads(path.read_text())
    posts.append({**posts[0], "id": "post-new", "updated_at": "2030-01-01T00:00:00Z"})
    path.write_text(json.dumps(posts))
    rows, _ = fetch_all(f"{api}/social/posts", updated_since="2030-01-01T00:00:00Z")
    assert [r["id"] for r in rows] == ["post-new"]


def test_injected_faults_are_retried_by_the_sources_http_session(small_systems):
    from ingestion.demo_world.api_server import Faults
    from ingestion.sources._http import http_session

    faults = Faults(0.5, seed=3, kinds=("500", "503", "truncated", "reset", "429"))
    session = http_session(backoff=0.01, max_delay=0.05, max_attempts=30)
    with serve(small_systems / "api", faults=faults) as base:
        bodies = [session.get(f"{base}/shop/customers", params={"limit": 5}, timeout=10) for _ in range(20)]
    assert all(r.status_code == 200 and len(r.json()["data"]) == 5 for r in bodies)
    assert all(faults.injected[kind] > 0 for kind in faults.kinds), faults.injected


def test_a_page_without_its_data_key_is_a_protocol_error_not_an_empty_page(small_systems):
    from dlt.sources.helpers.rest_client.paginators import SinglePagePaginator

    from ingestion.sources._http import ProtocolError, rest_client

    with serve(small_systems / "api") as base:
        client = rest_client(f"{base}/shop", paginator=SinglePagePaginator(), data_selector="records")
        with pytest.raises(ProtocolError, match=r"GET /shop/customers \(200\): no `records`"):
            list(client.paginate("customers"))


def test_leaky_bucket_refuses_beyond_capacity_and_drains_over_time():
    import time

    from ingestion.demo_world.api_server import LeakyBucket

    bucket = LeakyBucket(capacity=3, leak_rate=20)
    assert [bucket.take()[0] for _ in range(4)] == [True, True, True, False]
    time.sleep(0.1)
    assert bucket.take()[0]
