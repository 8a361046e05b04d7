"""Score the warehouse's touchpoints and journey sessions against the demo world's journeys truth.

The truth (``journeys_truth.parquet``, written next to ``ground_truth.parquet``) has one row per storefront event
id: the person (the generator's id), the true visit, the true time and the collector's traps. The warehouse's
person ids are opaque: a true person is mapped to the warehouse person most of its identifiers resolved to
(through the ground truth and ``pii.person_identifiers``, the identifier map in clear).
"""

from __future__ import annotations

from pathlib import Path

import duckdb


def score_journeys(warehouse: Path, source_systems: Path) -> dict[str, float | int]:
    """Shares (0..1) and counts; no identifiers in the result."""
    truth = str(source_systems / "journeys_truth.parquet")
    ground = str(source_systems / "ground_truth.parquet")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute(f"create temp table truth as select * from read_parquet('{truth}')")
        con.execute(f"""
            create temp table person_map as
            select true_person, arg_max(person_id, n) as person_id from (
                select ground.person_id as true_person, ids.person_id, count(*) as n
                from read_parquet('{ground}') as ground
                inner join pii.person_identifiers as ids using (identifier_type, identifier_value)
                group by all
            ) group by true_person;
            create temp table scored as
            select
                truth.*,
                tp.touchpoint_id is not null as in_warehouse,
                tp.person_id as warehouse_person,
                person_map.person_id as expected_person,
                tp.occurred_at as warehouse_at,
                sessions.session_id
            from truth
            left join marts.touchpoints as tp on tp.touchpoint_id = 'storefront:' || truth.event_id
            left join person_map on person_map.true_person = truth.person_id
            left join intermediate.int_journey__touchpoint_sessions as sessions on sessions.touchpoint_id = tp.touchpoint_id;
        """)

        def one(sql: str):
            return con.execute(sql).fetchone()[0]

        stitchable = "person_id is not null and visitor_identified and expected_person is not null"
        score = {
            "events": one("select count(*) from truth"),
            "events_in_warehouse": one("select count(*) from scored where in_warehouse"),
            "touchpoints_per_event_max": one(
                "select max(n) from (select count(*) as n from marts.touchpoints where touchpoint_id like 'storefront:%' "
                "group by touchpoint_id)"),
            # stitching: events of visitors that identified themselves (login or tracked link) reach their person
            "stitched_share": one(f"select avg((warehouse_person is not distinct from expected_person)::int) from scored where {stitchable}"),
            "stitched_before_login_share": one(
                f"select avg((warehouse_person is not distinct from expected_person)::int) from scored "
                f"where {stitchable} and not logged_in"),
            "email_link_events": one(f"select count(*) from scored where {stitchable} and email_campaign is not null"),
            "email_link_stitched_share": one(
                f"select avg((warehouse_person is not distinct from expected_person)::int) from scored "
                f"where {stitchable} and email_campaign is not null"),
            # nobody is made up: events of visitors who never identified themselves stay anonymous
            "anonymous_kept_share": one(
                "select avg((warehouse_person is null)::int) from scored where not visitor_identified"),
            "wrong_person_share": one(
                "select avg((warehouse_person is not null and warehouse_person is distinct from expected_person)::int) "
                "from scored where in_warehouse"),
            # sessions against the true visits
            "true_visits": one("select count(distinct visit_id) from truth"),
            "sessions_with_storefront_events": one("select count(distinct session_id) from scored"),
            "visits_in_one_session_share": one(
                "select avg((n = 1)::int) from (select visit_id, count(distinct session_id) as n from scored "
                "where session_id is not null group by visit_id)"),
            # times: the device's unless its clock ran ahead (then the collector's, seconds later)
            "time_exact_share": one("select avg((warehouse_at = occurred_at)::int) from scored where not clock_ahead"),
            "clock_ahead_within_minute_share": one(
                "select avg((warehouse_at between occurred_at and occurred_at + interval 1 minute)::int) "
                "from scored where clock_ahead"),
            "late_events": one("select count(*) from scored where late and in_warehouse"),
            "duplicate_events": one("select count(*) from scored where duplicate and in_warehouse"),
            "marathon_sessions": one(
                "select count(distinct session_id) from scored where marathon"),
            "marathon_hours": one(
                "select max(epoch(session_end - session_start)) / 3600 from marts.journey_sessions "
                "where session_id in (select session_id from scored where marathon)"),
        }
    return score
