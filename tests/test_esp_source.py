"""The ESP source against the demo Klaviyo API: row for row with the generator, and each failure of issue 5.

Every test edits the ESP's snapshot files (what the API serves) the way the real system's data goes wrong,
loads with plain dlt (no Dagster), and compares the warehouse with what the generator wrote.
"""

import json
from datetime import datetime, timedelta, timezone

import duckdb
import pytest

from ingestion import pipelines
from ingestion.demo_world.apis import esp as esp_api
from ingestion.sources import esp as esp_module
from ingestion.sources._contracts import normalize_identifier

from .conftest import count, loaded_rows

TABLES = ("campaigns", "profiles", "events")


@pytest.fixture()
def esp(small_systems, tmp_path):
    """``esp.load()`` loads the ESP into a fresh warehouse; ``esp.edit(table)`` edits what the API serves."""

    class Esp:
        warehouse = tmp_path / "warehouse.duckdb"
        root = small_systems / "api" / "esp"

        def load(self, faults=0.0, warehouse=None, dlt_dir="dlt"):
            with pipelines.source_endpoints(small_systems, faults=faults) as endpoints:
                info = pipelines.load("esp", endpoints, warehouse=warehouse or self.warehouse, pipelines_dir=tmp_path / dlt_dir)
            assert not info.has_failed_jobs
            return info

        def rows(self, table):
            return json.loads((self.root / f"{table}.json").read_text())

        def write(self, table, rows):
            (self.root / f"{table}.json").write_text(json.dumps(rows))

        def query(self, sql, warehouse=None):
            with duckdb.connect(str(warehouse or self.warehouse), read_only=True) as con:
                return con.execute(sql).fetchall()

        def cursor(self, resource):
            state = pipelines.make_pipeline("esp", self.warehouse, tmp_path / "dlt").state
            return state["sources"]["esp"]["resources"][resource]["jw_cursor"]

    return Esp()


def data(info):
    """Rows loaded into data tables (the empty quarantine item that keeps its table in place left out)."""
    return {t: n for t, n in loaded_rows(info).items() if n}


def stamp(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat(timespec="seconds")


def event(template, id, at, **attributes):
    return {**template, "id": id, "attributes": {**template["attributes"], "datetime": stamp(at), "timestamp": int(at.timestamp()), **attributes}}


def quarantine(esp, table="events"):
    return esp.query(f"select record_key, source_position, reason from esp.{table}__quarantine order by record_key")


def test_loads_every_record_row_for_row_and_a_reload_adds_nothing_new(esp, small_world):
    esp.load()
    world = small_world.esp
    assert {t: count(esp.warehouse, f"esp.{t}") for t in TABLES} == {t: len(world[t]) for t in TABLES}

    metric = {m["id"]: m["attributes"]["name"] for m in world["metrics"]}
    expected = {
        (e["id"], e["relationships"]["profile"]["data"]["id"], metric[e["relationships"]["metric"]["data"]["id"]],
         e["attributes"]["event_properties"]["$message"], datetime.fromisoformat(e["attributes"]["datetime"]))
        for e in world["events"]
    }
    assert set(esp.query('select id, profile_id, metric_name, campaign_id, "datetime" from esp.events')) == expected
    subjects = {m["id"]: m["attributes"]["content"]["subject"] for m in world["campaign_messages"]}
    assert set(esp.query("select id, subject, send_time from esp.campaigns")) == {
        (c["id"], subjects[c["relationships"]["campaign-messages"]["data"][0]["id"]], datetime.fromisoformat(c["attributes"]["send_time"]))
        for c in world["campaigns"]
    }
    consent = {p["id"]: p["attributes"]["subscriptions"]["email"]["marketing"]["consent"] for p in world["profiles"]}
    assert dict(esp.query("select id, email_consent from esp.profiles")) == consent
    assert esp.query("select count(*) from esp.events__quarantine") == [(0,)]

    second = esp.load()
    assert {t: count(esp.warehouse, f"esp.{t}") for t in TABLES} == {t: len(world[t]) for t in TABLES}
    # only the lag window (one hour before each cursor) is read again, and merged on id
    last = max(datetime.fromisoformat(e["attributes"]["datetime"]) for e in world["events"])
    within_lag = sum(datetime.fromisoformat(e["attributes"]["datetime"]) >= last - timedelta(hours=1) for e in world["events"])
    assert data(second)["events"] == within_lag < len(world["events"])


def test_emails_pasted_with_a_tab_or_a_zero_width_space_land_as_the_plain_address(esp, small_world):
    pasted = {p["id"]: p["attributes"]["email"] for p in small_world.esp["profiles"] if any(c in p["attributes"]["email"] for c in "\t\u200b")}
    assert len(pasted) >= 5  # the generator pastes some addresses (tab, zero-width space inside)
    esp.load()
    loaded = dict(esp.query("select id, email from esp.profiles"))
    truth = {t["identifier_value"] for t in small_world.ground_truth if t["identifier_type"] == "esp_contact"}
    for profile_id, raw in pasted.items():
        assert loaded[profile_id] == raw.replace("\t", "").replace("\u200b", "").strip()
        assert loaded[profile_id].lower() in truth
    assert all(normalize_identifier(v) == v for v in loaded.values())


def test_types_come_from_the_contract_not_from_the_first_row(esp, small_world):
    events = esp.rows("events")
    first = min(events, key=lambda e: e["attributes"]["datetime"])
    first["attributes"]["timestamp"] = str(first["attributes"]["timestamp"])  # the first row's number as text
    shifted = next(e for e in events if e is not first)
    at = datetime.fromisoformat(shifted["attributes"]["datetime"])
    shifted["attributes"]["datetime"] = at.astimezone(timezone(timedelta(hours=2))).isoformat()  # same instant, +02:00
    esp.write("events", events)

    esp.load()
    assert dict(esp.query("select column_name, data_type from information_schema.columns where table_schema = 'esp' "
                          "and table_name = 'events' and column_name in ('timestamp', 'datetime')")) == {
        "timestamp": "BIGINT", "datetime": "TIMESTAMP WITH TIME ZONE"}
    assert esp.query(f"select \"timestamp\" from esp.events where id = '{first['id']}'") == [(int(first["attributes"]["timestamp"]),)]
    assert esp.query(f"select \"datetime\" from esp.events where id = '{shifted['id']}'") == [(at,)]
    assert count(esp.warehouse, "esp.events") == len(small_world.esp["events"])
    assert esp.query("select count(*) from information_schema.columns where table_schema = 'esp' and contains(column_name, '__v_')") == [(0,)]


def test_a_bad_timestamp_is_quarantined_with_the_column_and_position_never_the_value(esp, small_world):
    events = esp.rows("events")
    events[10]["attributes"]["datetime"] = "31/07/2026 09:00"
    profiles = esp.rows("profiles")
    profiles[3]["attributes"]["created"] = "yesterday"
    esp.write("events", events)
    esp.write("profiles", profiles)

    esp.load()
    assert count(esp.warehouse, "esp.events") == len(small_world.esp["events"]) - 1
    assert count(esp.warehouse, "esp.events", f"id = '{events[10]['id']}'") == 0
    [(key, position, reason)] = quarantine(esp)
    assert (key, reason) == (events[10]["id"], "datetime: expected an ISO-8601 timestamp")
    assert position.startswith("/api/events page 0#")  # a broken date is served first
    [(key, _, reason)] = quarantine(esp, "profiles")
    assert (key, reason) == (profiles[3]["id"], "created: expected an ISO-8601 timestamp")
    assert count(esp.warehouse, "esp.profiles") == len(small_world.esp["profiles"]) - 1
    everything = str(esp.query("select * from esp.events__quarantine union all select * from esp.profiles__quarantine"))
    assert "31/07/2026" not in everything and "yesterday" not in everything and "@" not in everything

    esp.load()  # quarantined again on the next run, but not twice
    assert count(esp.warehouse, "esp.events__quarantine") == 1


def test_a_future_dated_event_is_quarantined_and_never_moves_the_cursor(esp, small_world):
    events = esp.rows("events")
    template = events[0]
    last = max(datetime.fromisoformat(e["attributes"]["datetime"]) for e in events)
    esp.write("events", [*events, event(template, "esp-future", datetime(2099, 1, 1, tzinfo=timezone.utc))])
    esp.load()
    assert esp.cursor("events") == last.isoformat()
    assert [(k, r) for k, _, r in quarantine(esp)] == [("esp-future", "datetime: in the future beyond the tolerance")]

    # a later event (still in the past) arrives: the cursor did not jump to 2099, so it is read
    later = last + timedelta(days=3)
    esp.write("events", [*esp.rows("events"), event(template, "esp-later", later)])
    info = esp.load()
    assert count(esp.warehouse, "esp.events", "id = 'esp-later'") == 1
    assert count(esp.warehouse, "esp.events") == len(small_world.esp["events"]) + 1
    lag_window = sum(datetime.fromisoformat(e["attributes"]["datetime"]) >= last - timedelta(hours=1) for e in events)
    assert data(info)["events"] == lag_window + 1  # read from the old cursor minus the lag, not from 2099
    assert esp.cursor("events") == later.isoformat()


def test_ties_at_the_cursor_and_late_rows_within_the_lag_window_are_read(esp, small_world):
    esp.load()
    events = esp.rows("events")
    template = events[0]
    last = max(datetime.fromisoformat(e["attributes"]["datetime"]) for e in events)
    tie = event(template, "esp-tie", last)  # same second as the cursor
    late = event(template, "esp-late", last - timedelta(minutes=40))  # older than the cursor, within the hour
    too_late = event(template, "esp-too-late", last - timedelta(hours=3))
    profiles = esp.rows("profiles")
    newest = max(profiles, key=lambda p: p["attributes"]["updated"])
    newest["attributes"]["email"] = "changed.at.cursor@mail.test"  # changed, `updated` kept
    esp.write("events", [*events, tie, late, too_late])
    esp.write("profiles", profiles)

    esp.load()
    assert count(esp.warehouse, "esp.events", "id in ('esp-tie', 'esp-late')") == 2
    assert count(esp.warehouse, "esp.events", "id = 'esp-too-late'") == 0  # beyond the lag window (one hour)
    assert esp.query(f"select email from esp.profiles where id = '{newest['id']}'") == [("changed.at.cursor@mail.test",)]


def test_the_lag_window_is_configurable(esp, small_world, monkeypatch):
    esp.load()
    events = esp.rows("events")
    last = max(datetime.fromisoformat(e["attributes"]["datetime"]) for e in events)
    esp.write("events", [*events, event(events[0], "esp-too-late", last - timedelta(hours=3))])
    monkeypatch.setenv("SOURCES__ESP__LAG_SECONDS", str(4 * 3600))
    esp.load()
    assert count(esp.warehouse, "esp.events", "id = 'esp-too-late'") == 1


def test_a_duplicate_key_in_one_batch_keeps_the_newest_version(esp, small_world):
    profiles = esp.rows("profiles")
    old = profiles[0]
    new = json.loads(json.dumps(old))
    new["attributes"].update(email="newest@mail.test", updated=stamp(datetime.fromisoformat(old["attributes"]["updated"]) + timedelta(days=1)))
    events = esp.rows("events")
    moved = json.loads(json.dumps(events[5]))
    moved["attributes"]["datetime"] = stamp(datetime.fromisoformat(moved["attributes"]["datetime"]) + timedelta(minutes=1))
    moved["relationships"]["metric"]["data"]["id"] = "OpnEml"
    # served newest first, so the older version comes later in the batch
    esp.write("profiles", [*profiles, new])
    esp.write("events", [*events, moved])

    esp.load()
    assert count(esp.warehouse, "esp.profiles") == len(small_world.esp["profiles"])
    assert esp.query(f"select email from esp.profiles where id = '{old['id']}'") == [("newest@mail.test",)]
    assert count(esp.warehouse, "esp.events") == len(small_world.esp["events"])
    assert esp.query(f"select metric_name from esp.events where id = '{moved['id']}'") == [("Opened Email",)]


def test_an_event_without_a_profile_is_quarantined_and_one_whose_profile_has_no_email_is_kept(esp, small_world):
    events = esp.rows("events")
    events[7]["relationships"]["profile"]["data"] = None
    profiles = esp.rows("profiles")
    profiles[0]["attributes"]["email"] = None
    esp.write("events", events)
    esp.write("profiles", profiles)

    esp.load()
    assert [(k, r) for k, _, r in quarantine(esp)] == [(events[7]["id"], "profile_id: missing")]
    blank = profiles[0]["id"]
    kept = sum((e["relationships"]["profile"]["data"] or {}).get("id") == blank for e in events)
    assert kept > 0
    assert count(esp.warehouse, "esp.events", f"profile_id = '{blank}'") == kept
    assert esp.query(f"select email from esp.profiles where id = '{blank}'") == [(None,)]


def break_events_page(monkeypatch, page: int, how):
    """From now on, page ``page`` (0-based) of every events walk is answered by ``how(response)``."""
    original = esp_api.App.handle
    calls = {"broken": 0}

    def handle(self, request):
        response = original(self, request)
        if request.path == "/api/events" and response.status == 200:
            first = "page[cursor]" not in request.query
            number = 0 if first else self._page_numbers.get(request.query["page[cursor]"], -1)
            nxt = response.body["links"]["next"]
            if nxt:
                self._page_numbers = getattr(self, "_page_numbers", {})
                from urllib.parse import parse_qs, urlparse

                self._page_numbers[parse_qs(urlparse(nxt).query)["page[cursor]"][0]] = number + 1
            if number == page:
                calls["broken"] += 1
                return how(response)
        return response

    esp_api.App._page_numbers = {}
    monkeypatch.setattr(esp_api.App, "handle", handle)
    return calls


def test_a_page_without_data_fails_the_run_keeps_the_cursor_and_the_next_run_loads_everything_once(esp, small_world, monkeypatch):
    from dlt.pipeline.exceptions import PipelineStepFailed

    from ingestion.demo_world.api_server import Response

    esp.load()
    before = esp.cursor("events")
    events = esp.rows("events")
    last = datetime.fromisoformat(before)
    new = [event(events[0], f"esp-new-{i}", last + timedelta(minutes=i)) for i in range(1, 251)]
    esp.write("events", [*events, *new])

    def without_data(response):
        body = dict(response.body)
        del body["data"]
        return Response(200, body, response.headers)

    calls = break_events_page(monkeypatch, 1, without_data)
    with pytest.raises(PipelineStepFailed, match=r"GET /esp/api/events \(200\): no `data` in the response"):
        esp.load()
    assert calls["broken"] == 1
    assert esp.cursor("events") == before  # not moved past the page it never read
    assert count(esp.warehouse, "esp.events") == len(small_world.esp["events"])

    monkeypatch.undo()
    esp.load()
    assert count(esp.warehouse, "esp.events") == len(small_world.esp["events"]) + 250
    assert esp.query("select count(*), count(distinct id) from esp.events") == [(len(events) + 250,) * 2]
    assert esp.cursor("events") == (last + timedelta(minutes=250)).isoformat()


def test_a_permanent_server_error_fails_the_run_keeps_the_cursor_and_the_next_run_loads_everything_once(esp, small_world, monkeypatch):
    from dlt.pipeline.exceptions import PipelineStepFailed

    from ingestion.demo_world.api_server import error
    from ingestion.sources import _http

    esp.load()
    before = esp.cursor("events")
    events = esp.rows("events")
    new = [event(events[0], f"esp-new-{i}", datetime.fromisoformat(before) + timedelta(minutes=i)) for i in range(1, 251)]
    esp.write("events", [*events, *new])

    fast = lambda: _http.http_session(max_attempts=2, backoff=0.01, max_delay=0.05)  # noqa: E731
    monkeypatch.setattr(esp_module, "http_session", fast)
    calls = break_events_page(monkeypatch, 2, lambda response: error(500, "internal error"))
    with pytest.raises(PipelineStepFailed, match="500"):
        esp.load()
    assert calls["broken"] == 2  # retried, then given up
    assert esp.cursor("events") == before
    assert count(esp.warehouse, "esp.events") == len(events)

    monkeypatch.undo()
    esp.load()
    assert esp.query("select count(*), count(distinct id) from esp.events") == [(len(events) + 250,) * 2]
    assert count(esp.warehouse, "esp.events", "id like 'esp-new-%'") == 250


def test_a_load_through_injected_faults_equals_a_clean_load(esp, tmp_path, monkeypatch):
    from ingestion.demo_world import api_server

    monkeypatch.setenv("SOURCES__ESP__PAGE_SIZE", "20")  # more requests, more faults (dlt config reaches the source)
    esp.load(warehouse=tmp_path / "clean.duckdb", dlt_dir="dlt-clean")
    drawn = []
    original = api_server.Faults.draw
    monkeypatch.setattr(api_server.Faults, "draw", lambda self: drawn.append(original(self)) or drawn[-1])
    esp.load(faults=0.2)
    injected = [kind for kind in drawn if kind]
    assert len(drawn) > 50 and len(injected) >= 5 and len(set(injected)) >= 3, injected  # 429, 5xx, slow, truncated, reset
    for table in TABLES:
        clean = esp.query(f"select * from esp.{table} order by id", tmp_path / "clean.duckdb")
        faulty = esp.query(f"select * from esp.{table} order by id")
        assert faulty == clean and len(clean) > 0, table


def test_the_rate_limit_is_answered_and_recovered_by_the_source(esp, small_systems, small_world, monkeypatch, tmp_path):
    import dlt

    from ingestion.demo_world.api_server import DEMO_TOKENS, serve

    statuses = []
    original = esp_api.App.handle

    def handle(self, request):
        response = original(self, request)
        statuses.append(response.status)
        return response

    monkeypatch.setattr(esp_api.App, "handle", handle)
    with serve(small_systems / "api", systems=("esp",), options={"esp": {"burst": 4, "per_second": 8}}) as base:
        pipeline = dlt.pipeline("esp_rate", destination=dlt.destinations.duckdb(str(esp.warehouse)), dataset_name="esp",
                                pipelines_dir=str(tmp_path / "rate"))
        info = pipeline.run(esp_module.esp_source(base_url=f"{base}/esp", access_token=DEMO_TOKENS["esp"], page_size=100))
    assert not info.has_failed_jobs
    assert statuses.count(429) > 0
    assert {t: count(esp.warehouse, f"esp.{t}") for t in TABLES} == {t: len(small_world.esp[t]) for t in TABLES}
