"""The demo ESP speaks Klaviyo's JSON:API: links.next pagination, filters, auth and revision headers, rate limit."""

from datetime import datetime

import pytest
import requests

from ingestion.demo_world.api_server import DEMO_TOKENS, serve

HEADERS = {"Authorization": f"Klaviyo-API-Key {DEMO_TOKENS['esp']}", "revision": "2024-10-15"}


@pytest.fixture()
def api(small_systems):
    with serve(small_systems / "api", systems=("esp",)) as base_url:
        yield f"{base_url}/esp"


def walk(url, **params):
    """Every page from ``url``, following links.next; returns (records, included, pages)."""
    records, included, pages = [], [], 0
    response = requests.get(url, params=params, headers=HEADERS, timeout=10)
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        records.extend(body["data"])
        included.extend(body.get("included", []))
        pages += 1
        if not body["links"]["next"]:
            return records, included, pages
        assert body["links"]["next"].startswith("http://") and "page%5Bcursor%5D=" in body["links"]["next"]
        response = requests.get(body["links"]["next"], headers=HEADERS, timeout=10)


def when(record, field="datetime"):
    return datetime.fromisoformat(record["attributes"][field])


def test_links_next_walks_every_event_once_in_datetime_order(api, small_world):
    records, included, pages = walk(f"{api}/api/events", **{"page[size]": 37, "include": "metric"})
    expected = small_world.esp["events"]
    assert sorted(r["id"] for r in records) == sorted(e["id"] for e in expected)  # each exactly once
    assert pages == -(-len(expected) // 37)
    keys = [(when(r), r["id"]) for r in records]
    assert keys == sorted(keys)
    assert {r["id"]: r for r in records} == {e["id"]: {**e, "links": {"self": f"{api}/api/events/{e['id']}/"}} for e in expected}
    metrics = {m["id"]: m["attributes"]["name"] for m in included if m["type"] == "metric"}
    assert set(metrics.values()) == {"Received Email", "Opened Email", "Clicked Email", "Unsubscribed", "Received Control"}


def test_profiles_and_campaigns_walk_completely(api, small_world):
    profiles, _, _ = walk(f"{api}/api/profiles", **{"page[size]": 50, "additional-fields[profile]": "subscriptions"})
    assert {p["id"]: p["attributes"] for p in profiles} == {p["id"]: p["attributes"] for p in small_world.esp["profiles"]}
    plain, _, _ = walk(f"{api}/api/profiles", **{"page[size]": 50})
    assert all("subscriptions" not in p["attributes"] for p in plain)  # only when asked for

    campaigns, included, _ = walk(f"{api}/api/campaigns", filter="equals(messages.channel,'email')", include="campaign-messages")
    assert sorted(c["id"] for c in campaigns) == sorted(c["id"] for c in small_world.esp["campaigns"])
    subjects = {m["id"]: m["attributes"]["content"]["subject"] for m in included}
    assert subjects == {m["id"]: m["attributes"]["content"]["subject"] for m in small_world.esp["campaign_messages"]}


def test_datetime_filters_are_inclusive_or_strict_as_written(api, small_world):
    stamps = sorted(when(e) for e in small_world.esp["events"])
    middle = stamps[len(stamps) // 2]
    text = middle.strftime("%Y-%m-%dT%H:%M:%SZ")
    at_or_after, _, _ = walk(f"{api}/api/events", filter=f"greater-or-equal(datetime,{text})", **{"page[size]": 500})
    after, _, _ = walk(f"{api}/api/events", filter=f"greater-than(datetime,{text})", **{"page[size]": 500})
    assert len(at_or_after) == sum(s >= middle for s in stamps)
    assert len(after) == sum(s > middle for s in stamps) < len(at_or_after)  # ties at the boundary exist
    newest_first, _, _ = walk(f"{api}/api/events", filter=f"greater-or-equal(datetime,{text})", sort="-datetime", **{"page[size]": 50})
    assert [r["id"] for r in newest_first] == [r["id"] for r in reversed(at_or_after)]
    window, _, _ = walk(
        f"{api}/api/events", filter=f"and(greater-or-equal(datetime,{text}),less-than(datetime,{stamps[-1].isoformat()}))"
    )
    assert len(window) == sum(middle <= s < stamps[-1] for s in stamps)
    updated = sorted(when(p, "updated") for p in small_world.esp["profiles"])[-5]
    recent, _, _ = walk(f"{api}/api/profiles", filter=f"greater-or-equal(updated,{updated.isoformat()})")
    assert len(recent) == sum(when(p, "updated") >= updated for p in small_world.esp["profiles"]) >= 5


@pytest.mark.parametrize(
    "path, params, parameter, detail",
    [
        ("events", {"filter": "greater-or-equal(datetime,2026-07-01T00:00:00Z"}, "filter", "unbalanced"),
        ("events", {"filter": "after(datetime,2026-07-01T00:00:00Z)"}, "filter", "'after' is not supported"),
        ("events", {"filter": "greater-or-equal(updated,2026-07-01T00:00:00Z)"}, "filter", "not a filterable field"),
        ("events", {"filter": "greater-or-equal(datetime,yesterday)"}, "filter", "takes a datetime"),
        ("campaigns", {}, "filter", "equals(messages.channel"),
        ("events", {"page[size]": "0"}, "page[size]", "between 1 and"),
        ("events", {"page[cursor]": "not-a-cursor"}, "page[cursor]", "not a cursor"),
        ("events", {"sort": "id"}, "sort", "not supported"),
        ("events", {"updated_since": "2026-07-01T00:00:00Z"}, "updated_since", "not a valid query parameter"),
    ],
)
def test_bad_requests_get_a_jsonapi_400_naming_the_parameter(api, path, params, parameter, detail):
    response = requests.get(f"{api}/api/{path}", params=params, headers=HEADERS, timeout=10)
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["status"] == 400 and error["code"] == "invalid"
    assert error["source"] == {"parameter": parameter}
    assert detail in error["detail"]


def test_the_private_key_and_the_revision_are_required_and_the_key_never_echoed(api):
    assert requests.get(f"{api}/api/events", headers={"revision": "2024-10-15"}, timeout=10).status_code == 401
    wrong = requests.get(
        f"{api}/api/events", headers={"Authorization": "Klaviyo-API-Key pk_wrong_secret", "revision": "2024-10-15"}, timeout=10
    )
    assert wrong.status_code == 401 and wrong.json()["errors"][0]["code"] == "not_authenticated"
    assert "pk_wrong_secret" not in wrong.text and DEMO_TOKENS["esp"] not in wrong.text
    bearer = requests.get(f"{api}/api/events", headers={**HEADERS, "Authorization": f"Bearer {DEMO_TOKENS['esp']}"}, timeout=10)
    assert bearer.status_code == 401
    no_revision = requests.get(f"{api}/api/events", headers={"Authorization": HEADERS["Authorization"]}, timeout=10)
    assert no_revision.status_code == 400 and no_revision.json()["errors"][0]["code"] == "missing_revision"
    assert requests.get(f"{api}/api/lists", headers=HEADERS, timeout=10).status_code == 404


def test_the_rate_limit_answers_429_with_retry_after_per_key(small_systems):
    with serve(small_systems / "api", systems=("esp",), options={"esp": {"burst": 3, "per_second": 1}}) as base:
        answers = [requests.get(f"{base}/esp/api/metrics", headers=HEADERS, timeout=10) for _ in range(5)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429, 429]
    throttled = answers[-1]
    assert throttled.headers["Retry-After"] == "1"
    assert throttled.json()["errors"][0]["code"] == "throttled"
