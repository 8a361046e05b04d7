"""Bad ESP records never freeze the marts: the whole Dagster graph on a small world, in its own data folder.

Before issue 5, an ESP event without an e-mail landed as NULL and the blocking not_null test on
``stg_esp__events.email_normalized`` stopped every model downstream, for every source, on every run.
Now an event the source cannot load (no profile, a broken date) goes to ``esp.events__quarantine``; an
event whose profile has no e-mail is kept, reported by the warn-severity check ``esp_events_without_an_email``
and linked to its person as soon as the profile has an address.
"""

import json
import duckdb
from ingestion import config
from ingestion.demo_world.writers import write_world


def checks(run):
    return [e.asset_check_evaluation_data for e in run.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]


def materialized(run):
    return {e.asset_key.to_user_string() for e in run.get_asset_materialization_events()}


def test_a_bad_esp_record_is_quarantined_or_reported_and_customer_360_is_still_built(small_world, tmp_path, monkeypatch):
    import dagster as dg

    from orchestration.demo import run_pipeline

    monkeypatch.setenv("JW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "data" / "dagster_home"))
    write_world(small_world, config.source_systems_dir())
    root = config.source_systems_dir() / "api" / "esp"
    events = json.loads((root / "events.json").read_text())
    profiles = json.loads((root / "profiles.json").read_text())

    blank = profiles[0]  # an address removed from a profile that received campaigns
    address = blank["attributes"]["email"]
    blank["attributes"]["email"] = None
    kept = [e["id"] for e in events if e["relationships"]["profile"]["data"]["id"] == blank["id"]]
    orphan, broken = events[3], events[4]
    orphan["relationships"]["profile"]["data"] = None  # an event that names nobody
    broken["attributes"]["datetime"] = "2026-13-45T99:00:00Z"
    (root / "events.json").write_text(json.dumps(events))
    (root / "profiles.json").write_text(json.dumps(profiles))

    run = run_pipeline()
    assert run.success
    assert {"marts/customer_360", "intermediate/int_touchpoints", "esp/events__quarantine"} <= materialized(run)
    failed = [(c.check_name, c.severity) for c in checks(run) if not c.passed]
    assert failed == [("esp_events_without_an_email", dg.AssetCheckSeverity.WARN)]  # reported, not blocking
    [report] = [c for c in checks(run) if c.check_name == "esp_events_without_an_email"]
    assert report.metadata["dagster_dbt/failed_row_count"].value == len(kept) > 0

    warehouse = config.warehouse_path()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from marts.customer_360").fetchone()[0] > 200
        assert sorted(con.execute("select record_key, reason from staging.stg_esp__quarantine").fetchall()) == sorted(
            [(orphan["id"], "profile_id: missing"), (broken["id"], "datetime: expected an ISO-8601 timestamp")]
        )
        assert con.execute(
            "select count(*), count(email_normalized) from pii.stg_esp__events where esp_profile_id = ?", [blank["id"]]
        ).fetchone() == (len(kept), 0)
        assert con.execute("select count(*) from pii.stg_esp__events").fetchone()[0] == len(events) - 2
        assert con.execute(
            "select count(*) from intermediate.int_identity__identifier_map where identifier_value is null"
        ).fetchone() == (0,)
        # addresses pasted with a tab or a zero-width space resolve to the same person as the person's other records
        truth = config.source_systems_dir() / "ground_truth.parquet"
        pasted = [
            p["attributes"]["email"].replace("\t", "").replace("\u200b", "").strip().lower()
            for p in profiles
            if p["attributes"]["email"] and any(c in p["attributes"]["email"] for c in "\t\u200b")
        ]
        assert len(pasted) >= 5
        split = con.execute(
            f"""
            with person as (select person_id from read_parquet('{truth}')
                            where identifier_type = 'esp_contact' and identifier_value in ({",".join("?" * len(pasted))})),
            mine as (select t.person_id, m.person_id as person_key from read_parquet('{truth}') t
                     join pii.person_identifiers m using (identifier_type, identifier_value)
                     where t.person_id in (select person_id from person)
                       and t.identifier_type in ('shop_customer', 'esp_contact', 'iot_device'))
            select count(distinct person_id), count(distinct person_key), count(*) from mine
            """,
            pasted,
        ).fetchone()
        assert split[0] == split[1] == len(pasted) and split[2] > len(pasted)  # linked to their shop accounts too

    # the profile gets its address back: its events are linked on the next run, the report is clear again
    blank["attributes"].update(email=address, updated="2026-10-01T00:00:00+00:00")  # after every other change
    (root / "profiles.json").write_text(json.dumps(profiles))
    from orchestration.definitions import defs

    esp_and_models = [k for a in defs.assets if a.is_executable and a.node_def.name in ("ingest_esp", "journey_dbt_models") for k in a.keys]
    run = run_pipeline(asset_selection=esp_and_models)
    assert run.success
    assert [c.check_name for c in checks(run) if not c.passed] == []
    with duckdb.connect(str(warehouse), read_only=True) as con:
        linked = con.execute(
            f"select count(*) from intermediate.int_touchpoints where touchpoint_id in ({','.join('?' * len(kept))})",
            [f"email:{k}" for k in kept],
        ).fetchone()[0]
    assert linked == len(kept)
