"""The demo social network speaks the Meta Graph API protocol the social source relies on."""

import json
from datetime import datetime

import pytest
import requests

from ingestion.demo_world.api_server import DEMO_TOKENS, Faults, serve
from ingestion.demo_world.apis.social import PAGE_ID
from ingestion.demo_world.generator import GRAPH_TIME

AUTH = {"Authorization": f"Bearer {DEMO_TOKENS['social']}"}
EDGES = ("posts", "comments", "tags", "reactions", "sharedposts", "checkins")


@pytest.fixture()
def api(small_systems):
    with serve(small_systems / "api", systems=("social",)) as base_url:
        yield f"{base_url}/social/v19.0"


def walk(url, params=None, headers=AUTH):
    """Follow `paging.next` to the end: (rows, pages)."""
    rows, pages = [], []
    while url:
        response = requests.get(url, params=params, headers=headers, timeout=10)
        assert response.status_code == 200, response.text
        body = response.json()
        rows.extend(body["data"])
        pages.append(body)
        url, params = body.get("paging", {}).get("next"), None
    return rows, pages


def epoch(text):
    return datetime.strptime(text, GRAPH_TIME).timestamp()


def order(rows):
    return sorted(rows, key=lambda r: (epoch(r["updated_time"]), r["id"]))


def test_me_is_the_page_of_the_token(api):
    assert requests.get(f"{api}/me", headers=AUTH, timeout=10).json() == {"id": PAGE_ID, "name": "Journey"}
    assert requests.get(f"{api}/{PAGE_ID}", headers=AUTH, timeout=10).json()["id"] == PAGE_ID


@pytest.mark.parametrize("edge", EDGES)
def test_cursor_pagination_walks_every_row_once_in_updated_time_order(api, small_world, edge):
    expected = small_world.social[edge]
    fields = ",".join(sorted({k for row in expected for k in row}))
    rows, pages = walk(f"{api}/{PAGE_ID}/{edge}", {"limit": 7, "fields": fields})
    assert rows == order(expected)  # every field, every row, once, in (updated_time, id) order
    assert len(pages) == -(-len(expected) // 7)
    assert all("next" in p["paging"] for p in pages[:-1]) and "next" not in pages[-1]["paging"]
    assert all(set(p["paging"]["cursors"]) == {"before", "after"} for p in pages)
    assert "access_token" not in pages[0]["paging"]["next"] and DEMO_TOKENS["social"] not in json.dumps(pages)


def test_after_and_before_cursors_move_one_page(api, small_world):
    first = requests.get(f"{api}/me/reactions", params={"limit": 10}, headers=AUTH, timeout=10).json()
    second = requests.get(
        f"{api}/me/reactions", params={"limit": 10, "after": first["paging"]["cursors"]["after"]}, headers=AUTH, timeout=10
    ).json()
    back = requests.get(
        f"{api}/me/reactions", params={"limit": 10, "before": second["paging"]["cursors"]["before"]}, headers=AUTH, timeout=10
    ).json()
    ids = [r["id"] for r in order(small_world.social["reactions"])]
    assert [r["id"] for r in first["data"]] == ids[:10]
    assert [r["id"] for r in second["data"]] == ids[10:20]
    assert back["data"] == first["data"]


def test_since_and_until_are_inclusive_in_unix_seconds_or_iso(api, small_world):
    stamps = sorted(r["updated_time"] for r in small_world.social["comments"])
    since, until = stamps[len(stamps) // 3], stamps[2 * len(stamps) // 3]
    as_unix, _ = walk(f"{api}/me/comments", {"limit": 100, "since": int(epoch(since)), "until": int(epoch(until))})
    iso = datetime.strptime(since, GRAPH_TIME).isoformat()
    as_iso, _ = walk(f"{api}/me/comments", {"limit": 100, "since": iso, "until": int(epoch(until))})
    assert as_unix == as_iso
    assert len(as_unix) == sum(since <= s <= until for s in stamps)
    assert {r["id"] for r in as_unix} >= {r["id"] for r in small_world.social["comments"] if r["updated_time"] in (since, until)}


def test_fields_select_and_an_unknown_field_is_graph_error_100(api):
    rows, _ = walk(f"{api}/me/comments", {"fields": "id,from{username}", "limit": 100})
    assert {tuple(sorted(r)) for r in rows} == {("from", "id")}
    default = requests.get(f"{api}/me/comments", headers=AUTH, timeout=10).json()
    assert len(default["data"]) == 25 and set(default["data"][0]) == {"id", "message", "from", "created_time"}
    response = requests.get(f"{api}/me/comments", params={"fields": "id,email"}, headers=AUTH, timeout=10)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["type"]) == (100, "OAuthException") and "(email)" in error["message"]
    assert error["fbtrace_id"]


def test_comments_of_one_post(api, small_world):
    post = small_world.social["comments"][0]["post_id"]
    rows, _ = walk(f"{api}/{post}/comments", {"limit": 3, "fields": "id,post_id"})
    assert sorted(r["id"] for r in rows) == sorted(c["id"] for c in small_world.social["comments"] if c["post_id"] == post)
    response = requests.get(f"{api}/post-9999/comments", headers=AUTH, timeout=10)
    assert response.status_code == 400 and response.json()["error"]["type"] == "GraphMethodException"


def test_an_edge_past_its_end_is_an_empty_page_without_paging(api):
    body = requests.get(f"{api}/me/tags", params={"since": 4_000_000_000}, headers=AUTH, timeout=10).json()
    assert body == {"data": []}


@pytest.mark.parametrize(
    "headers, params, status, code",
    [
        ({}, {}, 401, 190),
        ({"Authorization": "Bearer wrong-token-123"}, {}, 401, 190),
        ({"Authorization": "Basic wrong-token-123"}, {}, 401, 190),
        ({}, {"access_token": DEMO_TOKENS["social"]}, 400, 100),  # never in a URL, even the right one
    ],
)
def test_the_bearer_token_is_required_and_never_echoed(api, headers, params, status, code):
    response = requests.get(f"{api}/me/posts", headers=headers, params=params, timeout=10)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert "wrong-token-123" not in response.text and DEMO_TOKENS["social"] not in response.text


def test_bad_parameters_are_graph_error_100(api):
    for params in ({"limit": "ten"}, {"limit": 0}, {"since": "yesterday"}, {"after": "not-a-cursor"}):
        response = requests.get(f"{api}/me/posts", params=params, headers=AUTH, timeout=10)
        assert response.status_code == 400 and response.json()["error"]["code"] == 100, params
    big = requests.get(f"{api}/me/reactions", params={"limit": 5000}, headers=AUTH, timeout=10).json()
    assert len(big["data"]) == 100  # Graph caps a page


def test_throttling_is_answered_the_graph_way(small_systems):
    options = {"social": {"rate_limit": 3, "rate_window": 60}}
    with serve(small_systems / "api", systems=("social",), options=options) as base:
        answers = [requests.get(f"{base}/social/v19.0/me", headers=AUTH, timeout=10) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 400]
    error = answers[-1].json()["error"]
    assert error["code"] == 4 and "request limit reached" in error["message"]
    assert json.loads(answers[-1].headers["X-App-Usage"])["call_count"] == 100


def test_snapshot_changes_are_served(api, small_systems):
    path = small_systems / "api" / "social" / "posts.json"
    posts = json.loads(path.read_text())
    posts.append({**posts[0], "id": "post-new", "updated_time": "2030-01-01T00:00:00+0000"})
    path.write_text(json.dumps(posts))
    rows, _ = walk(f"{api}/me/posts", {"since": "2030-01-01T00:00:00Z"})
    assert [r["id"] for r in rows] == ["post-new"]


# --- the source against the protocol's throttling ------------------------------------------------------------


@pytest.fixture()
def quick_retries(monkeypatch):
    from ingestion.sources import social

    monkeypatch.setitem(social.RETRY, "backoff", 0.05)
    monkeypatch.setitem(social.RETRY, "max_delay", 0.5)
    monkeypatch.setitem(social.RETRY, "max_attempts", 12)


def _load(base_url, warehouse, tmp_path, **kwargs):
    from ingestion import pipelines
    from ingestion.sources import social_source

    pipeline = pipelines.make_pipeline("social", warehouse, tmp_path / "dlt")
    source = social_source(base_url=f"{base_url}/social", access_token=DEMO_TOKENS["social"], **kwargs)
    return pipeline.run(source, loader_file_format="parquet")


@pytest.mark.parametrize("status, code", [(400, 4), (403, 32), (429, 613)])
def test_the_source_backs_off_when_throttled_and_loads_everything(small_systems, small_world, tmp_path, quick_retries, status, code):
    from .conftest import count

    options = {"social": {"rate_limit": 4, "rate_window": 0.5, "throttle_status": status, "throttle_code": code}}
    throttled = []
    from ingestion.demo_world.apis import social as app_module

    original = app_module.GraphError.response

    def counting(self):
        if self.code == code:
            throttled.append(self.status)
        return original(self)

    app_module.GraphError.response = counting
    try:
        with serve(small_systems / "api", systems=("social",), options=options) as base:
            info = _load(base, tmp_path / "w.duckdb", tmp_path, page_size=25)
    finally:
        app_module.GraphError.response = original
    assert not info.has_failed_jobs
    assert throttled and set(throttled) == {status}
    interactions = sum(len(v) for k, v in small_world.social.items() if k != "posts")
    assert count(tmp_path / "w.duckdb", "social.interactions") == interactions
    assert count(tmp_path / "w.duckdb", "social.posts") == len(small_world.social["posts"])


def test_the_source_honours_429_with_retry_after(small_systems, small_world, tmp_path, quick_retries):
    from .conftest import count

    faults = Faults(0.3, seed=5, kinds=("429",))
    with serve(small_systems / "api", systems=("social",), faults=faults) as base:
        _load(base, tmp_path / "w.duckdb", tmp_path)
    assert faults.injected["429"] > 0
    assert count(tmp_path / "w.duckdb", "social.posts") == len(small_world.social["posts"])


def test_throttling_codes_are_transient_and_other_errors_are_not():
    from ingestion.sources.social import throttled

    def answer(status, body):
        response = requests.Response()
        response.status_code, response._content = status, json.dumps(body).encode()
        return response

    def graph(code, **extra):
        return {"error": {"message": "x", "type": "OAuthException", "code": code, "fbtrace_id": "A1", **extra}}

    assert all(throttled(answer(400, graph(code)), None) for code in (4, 17, 32, 613, 80001))
    assert throttled(answer(403, graph(4)), None) and throttled(answer(429, graph(4)), None)
    assert throttled(answer(400, graph(1, is_transient=True)), None)
    assert not any(throttled(answer(400, graph(code)), None) for code in (100, 190, 200, 2500))
    assert not throttled(answer(401, graph(190)), None) and not throttled(answer(400, {"oops": 1}), None)
