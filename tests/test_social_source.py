"""The social source against the demo Graph API, row for row with the generator's world: contracts,
quarantine, cursors (future dates, ties, late rows, lag), duplicates, broken pages, failed runs, faults."""

import itertools
import json
import re
import traceback
from datetime import datetime, timedelta, timezone

import duckdb
import pytest

from ingestion import pipelines
from ingestion.demo_world.api_server import DEMO_TOKENS
from ingestion.demo_world.apis import social as graph_app
from ingestion.demo_world.generator import GRAPH_TIME, normalize_handle
from ingestion.sources import social as social_module
from ingestion.sources._contracts import normalize_text
from ingestion.sources.social import social_source

from .conftest import loaded_rows

EDGE_TYPES = {"comments": "comment", "tags": "mention", "reactions": "like", "sharedposts": "share", "checkins": "check_in"}
TOKEN = DEMO_TOKENS["social"]


def at(text):
    return datetime.strptime(text, GRAPH_TIME)


def graph_time(moment):
    return moment.astimezone(timezone.utc).strftime(GRAPH_TIME)


class Social:
    """The small world's social network (its snapshot files, which tests edit) and a warehouse it loads into.

    Every run gets a fresh dlt working folder, as under Dagster: cursors come back from the warehouse only."""

    def __init__(self, systems, tmp_path, name="w"):
        self.systems, self.tmp_path = systems, tmp_path
        self.root = systems / "api" / "social"
        self.warehouse = tmp_path / f"{name}.duckdb"
        self._runs = itertools.count()
        self.name = name

    def rows(self, edge):
        return json.loads((self.root / f"{edge}.json").read_text())

    def write(self, edge, rows):
        (self.root / f"{edge}.json").write_text(json.dumps(rows))

    def add(self, edge, *rows):
        self.write(edge, self.rows(edge) + list(rows))

    def edit(self, edge, row_id, **changes):
        self.write(edge, [dict(r, **changes) if r["id"] == row_id else r for r in self.rows(edge)])

    def pipeline(self):
        return pipelines.make_pipeline("social", self.warehouse, self.tmp_path / f"dlt-{self.name}-{next(self._runs)}")

    def load(self, faults=0.0, **kwargs):
        with pipelines.source_endpoints(self.systems, faults=faults) as endpoints:
            info = self.pipeline().run(social_source(**endpoints.api("social"), **kwargs), loader_file_format="parquet")
        assert not info.has_failed_jobs
        return info

    def query(self, sql):
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.execute(sql).fetchall()

    def tables(self):
        return {t for (t,) in self.query("select table_name from information_schema.tables where table_schema = 'social'")}

    def cursors(self):
        """The cursors saved in the warehouse (what the next run starts from)."""
        pipeline = self.pipeline()
        pipeline.sync_destination()
        resources = pipeline.state.get("sources", {}).get("social", {}).get("resources", {})
        saved = {"posts": resources.get("posts", {}).get("jw_cursor")}
        saved.update({edge: resources.get("interactions", {}).get(edge, {}).get("jw_cursor") for edge in EDGE_TYPES})
        return saved

    def interactions(self):
        return set(
            self.query(
                "select id, interaction_type, post_id, channel, lower(ltrim(handle, '@')), message, reaction_type, store_id, "
                "created_time, updated_time from social.interactions"
            )
        )

    def posts(self):
        return set(self.query("select id, channel, post_type, message, reach, created_time, updated_time from social.posts"))

    def quarantine(self, table):
        if f"{table}__quarantine" not in self.tables():
            return {}
        rows = self.query(f"select record_key, reason, source_position from social.{table}__quarantine")
        return {key: (reason, position) for key, reason, position in rows}


def expected_interactions(edges):
    """What raw must hold for the generator's (or an edited) world: one row per interaction."""
    return {
        (
            r["id"], EDGE_TYPES[edge], r.get("post_id"), r.get("channel"), normalize_handle(r["from"]["username"]),
            normalize_text(r["message"]) if r.get("message") else None, r.get("type"), (r.get("place") or {}).get("id"),
            at(r["created_time"]), at(r["updated_time"]),
        )
        for edge, rows in edges.items()
        for r in rows
    }


def expected_posts(posts):
    return {
        (
            p["id"], p["channel"], p["post_type"], normalize_text(p["message"]), p.get("reach"),
            at(p["created_time"]), at(p["updated_time"]),
        )
        for p in posts
    }


def wire_rows(world):
    return [r for edge in EDGE_TYPES for r in world.social[edge]]


def world_edges(world):
    return {edge: world.social[edge] for edge in EDGE_TYPES}


@pytest.fixture()
def social(small_systems, tmp_path):
    return Social(small_systems, tmp_path)


@pytest.fixture()
def quick_retries(monkeypatch):
    monkeypatch.setitem(social_module.RETRY, "backoff", 0.02)
    monkeypatch.setitem(social_module.RETRY, "max_delay", 0.2)
    monkeypatch.setitem(social_module.RETRY, "max_attempts", 4)


def failure_text(exc_info):
    """Every message in the chain of a failed run (what a log or a Dagster event would show)."""
    seen, texts, pending = set(), [], [exc_info.value]
    while pending:
        exc = pending.pop()
        if exc is None or id(exc) in seen:
            continue
        seen.add(id(exc))
        texts.append("".join(traceback.format_exception_only(exc)))
        pending += [exc.__cause__, exc.__context__, getattr(exc, "exception", None)]
    return "\n".join(texts)


# --- a clean world -------------------------------------------------------------------------------------------


def test_a_load_equals_the_generated_world_row_for_row_and_every_handle_finds_its_person(social, small_world):
    social.load()
    assert social.posts() == expected_posts(small_world.social["posts"])
    loaded = social.interactions()
    assert loaded == expected_interactions(world_edges(small_world))
    assert len(loaded) == 567
    assert not {"posts__quarantine", "interactions__quarantine"} & social.tables()

    # the wire had handles typed every which way ...
    wire = [r["from"]["username"] for edge in EDGE_TYPES for r in small_world.social[edge]]
    assert sum("\t" in h for h in wire) >= 30 and sum("\u200b" in h for h in wire) >= 50
    assert sum(any(0xFF01 <= ord(c) <= 0xFF5E for c in h) for h in wire) >= 20  # full-width
    assert sum(h != h.strip() for h in wire) >= 80
    # ... raw has each as a match key: NFKC (ASCII here), no space of any kind
    odd = r"regexp_matches(handle, '[\s\x{200b}]') or not regexp_matches(handle, '^[\x00-\x7F]+$')"
    assert social.query(f"select count(*) from social.interactions where {odd}") == [(0,)]
    # lower case without "@", each is its person's handle in the ground truth (a handle carries the person's index)
    truth = {t["identifier_value"]: t["person_id"] for t in small_world.ground_truth if t["identifier_type"] == "social_handle"}
    handles = social.query("select id, lower(ltrim(handle, '@')) from social.interactions")
    assert sum(h in truth for _, h in handles) == len(handles) == 567
    assert len({truth[h] for _, h in handles}) == len({normalize_handle(r["from"]["username"]) for r in wire_rows(small_world)})
    # the skeleton's trim + lower + "@" alone leaves 100 of the 567 without their person
    by_id = {r["id"]: r for r in wire_rows(small_world)}
    assert sum(by_id[i]["from"]["username"].strip().lstrip("@").lower() in truth for i, _ in handles) <= 567 - 90

    # comments and mentions keep their text (German and English), for sentiment later
    texts = dict(social.query("select interaction_type, count(message) from social.interactions group by 1"))
    assert texts["comment"] == len(small_world.social["comments"]) and texts["mention"] == len(small_world.social["tags"])
    german = "message like '%Jacke%' or message like '%ß%' or message like '%ä%'"
    assert social.query(f"select count(*) from social.interactions where {german}")[0][0] > 0


def test_a_reload_reads_again_exactly_the_lag_window(social, small_world):
    social.load()
    before = (social.posts(), social.interactions())

    def window(rows, lag):
        newest = max(at(r["updated_time"]) for r in rows)
        return sum(at(r["updated_time"]) >= newest - lag for r in rows)

    second = social.load()
    hour = timedelta(hours=1)
    assert loaded_rows(second) == {
        "posts": window(small_world.social["posts"], hour),
        "interactions": sum(window(small_world.social[edge], hour) for edge in EDGE_TYPES),
    }
    third = social.load(lag_seconds=0)  # only the ties at each cursor
    assert loaded_rows(third) == {"posts": 1, "interactions": 5}
    assert (social.posts(), social.interactions()) == before


# --- contracts and quarantine --------------------------------------------------------------------------------


def test_records_breaking_the_contract_are_quarantined_with_reason_and_position(social, small_world):
    edges = world_edges(small_world)
    broken = {
        # (edge, index): (changes, reason)
        ("comments", 0): ({"post_id": 12345}, "post_id: expected text"),
        ("comments", 1): ({"created_time": "2026-13-45T99:00:00+0000"}, "created_time: expected an ISO-8601 timestamp"),
        ("comments", 2): ({"message": {"text": "Toll!"}}, "message: expected text"),
        ("reactions", 0): ({"from": "Somebody Else"}, "handle: expected text"),
        ("checkins", 0): ({"place": {"id": 7}}, "store_id: expected text"),
        ("sharedposts", 0): ({"created_time": "2026-09-20T10:00:00"}, "created_time: timestamp without a time zone"),
        ("tags", 0): ({"from": None}, "handle: missing"),
    }
    expected_reasons = {}
    for (edge, index), (changes, reason) in broken.items():
        row = edges[edge][index]
        social.edit(edge, row["id"], **changes)
        expected_reasons[row["id"]] = reason
    bad_post = small_world.social["posts"][3]["id"]
    social.edit("posts", bad_post, updated_time="soon")

    social.load()
    quarantined = social.quarantine("interactions")
    assert {key: reason for key, (reason, _) in quarantined.items()} == expected_reasons
    edge_of = {edges[edge][i]["id"]: edge for edge, i in broken}
    assert all(re.fullmatch(rf"{edge_of[key]} page \d+#\d+", position) for key, (_, position) in quarantined.items())
    assert social.quarantine("posts") == {bad_post: ("updated_time: expected an ISO-8601 timestamp", "posts page 1#0")}
    # no value of the record in a reason
    assert not any(v in reason for reason, _ in quarantined.values() for v in ("12345", "Somebody", "Toll", "13-45", "store-"))

    good = {edge: [r for r in rows if r["id"] not in expected_reasons] for edge, rows in edges.items()}
    assert social.interactions() == expected_interactions(good)
    assert social.posts() == expected_posts([p for p in small_world.social["posts"] if p["id"] != bad_post])

    social.load()  # seen again within the lag window: the same quarantine rows, no new ones
    assert social.quarantine("interactions") == quarantined


def test_a_future_dated_record_is_quarantined_and_never_moves_the_cursor(social, small_world):
    comments = small_world.social["comments"]
    newest = max(comments, key=lambda r: (at(r["updated_time"]), r["id"]))
    social.add("comments", dict(comments[0], id="int-2099", updated_time="2099-01-01T00:00:00+0000"))
    social.load()
    assert social.quarantine("interactions") == {
        "int-2099": ("updated_time: in the future beyond the tolerance", f"comments page 1#{len(comments)}")
    }
    assert social.cursors()["comments"] == at(newest["updated_time"]).isoformat()

    # the next change after the real cursor arrives (the old cursor would have sat in 2099)
    later = dict(comments[1], id="int-later", message="Endlich wieder da!", updated_time="2026-10-02T09:00:00+0000")
    social.add("comments", later)
    social.load()
    assert social.query("select message from social.interactions where id = 'int-later'") == [("Endlich wieder da!",)]
    assert social.query("select count(*) from social.interactions where id = 'int-2099'") == [(0,)]
    assert social.cursors()["comments"] == at(later["updated_time"]).isoformat()


def test_ties_at_the_cursor_and_late_rows_within_the_lag_window_are_read(social, small_world, monkeypatch):
    social.load()
    comments = small_world.social["comments"]
    newest = max(comments, key=lambda r: (at(r["updated_time"]), r["id"]))
    cursor = at(newest["updated_time"])
    assert social.cursors()["comments"] == cursor.isoformat()

    social.edit("comments", newest["id"], message="Nachträglich bearbeitet")  # changed, same updated_time
    template = dict(comments[0], message="late")
    social.add(
        "comments",
        dict(template, id="int-000000-tie", updated_time=graph_time(cursor)),  # at the cursor, sorts before it
        dict(template, id="int-late", updated_time=graph_time(cursor - timedelta(minutes=30))),
        dict(template, id="int-too-late", updated_time=graph_time(cursor - timedelta(hours=3))),
    )
    social.load()
    loaded = dict(social.query("select id, message from social.interactions where id in "
                               f"('{newest['id']}', 'int-000000-tie', 'int-late', 'int-too-late')"))
    assert loaded == {newest["id"]: "Nachträglich bearbeitet", "int-000000-tie": "late", "int-late": "late"}

    # a longer lag window, from dlt config, reaches the row three hours late
    monkeypatch.setenv("SOURCES__SOCIAL__LAG_SECONDS", str(4 * 3600))
    social.load()
    assert social.query("select count(*) from social.interactions where id = 'int-too-late'") == [(1,)]
    assert social.query("select count(*), count(distinct id) from social.interactions") == [(567 + 3, 567 + 3)]


def test_a_duplicate_key_in_a_batch_keeps_the_newest_version(social, small_world):
    comments = small_world.social["comments"]
    edited = [dict(c, message=f"bearbeitet {n}", updated_time=graph_time(at(c["updated_time"]) + timedelta(minutes=5 + n)))
              for n, c in enumerate(comments[:3])]
    social.add("comments", *edited)  # each id twice in one walk (pages of 10: often on different pages)
    social.load(page_size=10)
    rows = dict(social.query("select id, message from social.interactions where interaction_type = 'comment'"))
    assert len(rows) == len(comments)
    assert [rows[c["id"]] for c in comments[:3]] == ["bearbeitet 0", "bearbeitet 1", "bearbeitet 2"]
    assert social.quarantine("interactions") == {}


# --- failed runs keep their cursors ------------------------------------------------------------------------


def _break(monkeypatch, edge, answer):
    """Make every request to `edge` of the demo Graph API answer `answer(request)`; returns the call log."""
    calls = []
    handle = graph_app.App.handle

    def broken(self, request):
        if request.path.rstrip("/").endswith(f"/{edge}"):
            calls.append(request.query.get("after"))
            response = answer(request, handle(self, request))
            if response is not None:
                return response
        return handle(self, request)

    monkeypatch.setattr(graph_app.App, "handle", broken)
    return calls


def _drop_data(request, response):
    body = dict(response.body)
    body.pop("data", None)
    return type(response)(200, body, response.headers)


def _permanent_500(request, response):
    return type(response)(500, {"error": {"message": "An unknown error occurred", "type": "OAuthException", "code": 1}})


def _graph_400(request, response):
    return graph_app.graph_error(400, 100, "(#100) Invalid parameter")


@pytest.mark.parametrize(
    "edge, answer, message, attempts",
    [
        ("comments", _drop_data, "GET /social/v19.0/104857600000001/comments (200): no `data` in the response", 1),
        ("reactions", _permanent_500, "GET /social/v19.0/104857600000001/reactions (500): Graph error #1", 4),
        ("posts", _graph_400, "(400): Graph error #100 (OAuthException) (#100) Invalid parameter", 1),
    ],
)
def test_a_failed_run_moves_no_cursor_and_the_next_run_loads_everything_once(
    social, small_world, monkeypatch, quick_retries, edge, answer, message, attempts
):
    social.load()
    cursors, before = social.cursors(), social.interactions()
    comments, reactions = small_world.social["comments"], small_world.social["reactions"]
    new = {
        "comments": [dict(comments[0], id="int-new-1", updated_time="2026-10-01T10:00:00+0000")],
        "reactions": [dict(reactions[0], id="int-new-2", updated_time="2026-10-01T11:00:00+0000")],
        "posts": [dict(small_world.social["posts"][0], id="post-new", updated_time="2026-10-01T12:00:00+0000")],
    }
    for name, rows in new.items():
        social.add(name, *rows)

    calls = _break(monkeypatch, edge, answer)
    with pytest.raises(Exception) as failure:
        social.load()
    assert message in failure_text(failure)
    assert TOKEN not in failure_text(failure) and "since=" not in failure_text(failure)
    assert len(calls) == attempts  # transient faults retried, permanent errors not
    assert social.cursors() == cursors
    assert social.interactions() == before

    monkeypatch.undo()
    info = social.load()
    assert social.query("select count(*) from social.interactions where id in ('int-new-1', 'int-new-2')") == [(2,)]
    assert social.query("select count(*) from social.posts where id = 'post-new'") == [(1,)]
    edges = {e: small_world.social[e] + new.get(e, []) for e in EDGE_TYPES}
    assert social.interactions() == expected_interactions(edges)
    assert loaded_rows(info)["interactions"] >= 2


def test_a_wrong_token_fails_the_run_without_showing_the_token(social):
    with pytest.raises(Exception) as failure:
        with pipelines.source_endpoints(social.systems) as endpoints:
            social.pipeline().run(social_source(base_url=endpoints.social_api_url, access_token="tok-SECRET-42"))
    text = failure_text(failure)
    assert "(401): Graph error #190 (OAuthException)" in text
    assert "tok-SECRET-42" not in text


def test_a_load_through_injected_faults_equals_a_clean_load(small_systems, tmp_path, small_world, monkeypatch, quick_retries):
    from ingestion.demo_world import api_server

    monkeypatch.setitem(social_module.RETRY, "max_attempts", 12)
    clean = Social(small_systems, tmp_path, "clean")
    clean.load(page_size=10)

    drawn = []
    draw = api_server.Faults.draw

    def counting(self):
        kind = draw(self)
        drawn.append(kind)
        return kind

    monkeypatch.setattr(api_server.Faults, "draw", counting)
    monkeypatch.setattr(api_server, "SLOW_SECONDS", 0.2)
    faulty = Social(small_systems, tmp_path, "faulty")
    faulty.load(faults=0.2, page_size=10)

    injected = [k for k in drawn if k]
    assert len(injected) >= 8 and len(set(injected)) >= 4, injected
    for table in ("posts", "interactions"):
        sql = f"select * from social.{table} order by id"
        assert faulty.query(sql) == clean.query(sql)
    assert faulty.interactions() == expected_interactions(world_edges(small_world))


def test_an_interaction_on_a_post_not_loaded_is_kept(social, small_world):
    """Orphans are kept (staging reports them with a warn-severity relationships test), never dropped."""
    comment = dict(small_world.social["comments"][0], id="int-orphan", post_id="post-9999")
    social.add("comments", comment)
    social.load()
    assert social.query("select post_id from social.interactions where id = 'int-orphan'") == [("post-9999",)]
    assert social.query("select count(*) from social.interactions") == [(567 + 1,)]


def test_stg_social__posts_carries_each_posts_reach_or_null(social, small_world, tmp_path):
    from .conftest import dbt, rows

    social.load()
    dbt(social.warehouse, tmp_path, "run", "--select", "stg_social__posts")
    got = dict(rows(social.warehouse, "select post_id, reach from staging.stg_social__posts"))
    assert got == {p["id"]: p.get("reach") for p in small_world.social["posts"]}
    assert None in got.values() and any(got.values())
    assert rows(social.warehouse, "select data_type from information_schema.columns "
                "where table_name = 'stg_social__posts' and column_name = 'reach'") == [("BIGINT",)]
