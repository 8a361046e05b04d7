"""The pure parts of ``journey bench pipeline`` on a tiny world: the DuckDB-native baseline builds customer_360 and
journey_sessions that agree with the generator's truth, and the bench's bookkeeping (sizes, stages, ratios, table,
plot). Not a timed test: nothing here asserts a time, and the bench itself never runs in ``make test``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import duckdb
import pytest

from ingestion.config import REPO_ROOT
from ingestion.demo_world.generator import generate
from ingestion.demo_world.writers import write_world
from orchestration import bench_pipeline as bp

sys.path.insert(0, str(REPO_ROOT))
from bench.baseline import run_baseline  # noqa: E402

PEOPLE, DAYS = 300, 21

# a ground-truth identifier as the baseline's identity graph names it
TRUTH_VERTEX = """
case identifier_type
    when 'shop_customer' then 'shop:' || identifier_value
    when 'loyalty_member' then 'loyalty:' || identifier_value
    when 'loyalty_card' then 'card:' || identifier_value
    when 'social_handle' then 'handle:' || identifier_value
    when 'iot_device' then 'device:' || identifier_value
    else 'email:' || identifier_value
end
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench-world") / "source_systems"
    written = write_world(generate(7, PEOPLE, DAYS), root)
    result, con = run_baseline(root)
    yield root, written, result, con
    con.close()


def test_customer_360_has_one_row_per_person_of_the_truth(world):
    root, written, result, con = world
    con.execute(f"create or replace table truth as select * from read_parquet('{written['ground_truth']}')")
    truth_people = con.execute("select count(distinct person_id) from truth").fetchone()[0]
    rows, distinct = con.execute("select count(*), count(distinct person_id) from customer_360").fetchone()
    assert rows == distinct == result.customer_360_rows
    # deterministic identity only (shared e-mail, ids, handles, cards): it splits people the pipeline links by
    # probability (another e-mail at the loyalty desk), so more rows than people, never fewer
    assert truth_people <= rows <= 1.6 * truth_people, (rows, truth_people)
    mapped = con.execute(f"""
        select identity.person_id as baseline, truth.person_id as truth
        from bl_identity as identity inner join truth on identity.vertex = {TRUTH_VERTEX}
    """).df()  # fmt: skip
    # every person of the truth is found, and hardly any baseline person merges two people of the truth
    assert mapped["truth"].nunique() == truth_people
    impure = (mapped.groupby("baseline")["truth"].nunique() > 1).sum()
    assert impure <= 0.02 * rows, impure
    # every baseline person is a person of the truth (no rows made of identifiers no one has)
    assert set(con.execute("select person_id from customer_360").df()["person_id"]) <= set(mapped["baseline"])
    # the activity columns add up to the sources
    online, web = con.execute("select sum(online_orders), sum(web_events) from customer_360").fetchone()
    assert 0 < online <= result.tables["src_shop__orders"]
    assert 0 < web <= result.tables["src_shop__events"]


def test_journey_sessions_match_the_truths_visits(world):
    root, written, result, con = world
    visits = con.execute(
        f"select count(distinct visit_id) from read_parquet('{written['journeys_truth']}') where not duplicate"
    ).fetchone()[0]
    web_sessions = con.execute("select count(*) from journey_sessions where list_contains(string_split(channel_list, ','), 'web')").fetchone()[0]
    # 30-minute gaps: marathon visits split, back-to-back visits of one person merge, orders join their visit
    assert 0.85 * visits <= web_sessions <= 1.15 * visits, (web_sessions, visits)
    sessions, touchpoints, ids = con.execute(
        "select count(*), sum(touchpoints), count(distinct session_id) from journey_sessions").fetchone()  # fmt: skip
    assert sessions == ids == result.journey_sessions_rows
    # every touchpoint with an actor is in exactly one session
    assert touchpoints == con.execute(
        "select count(*) from bl_touchpoints where (person_id is not null or visitor_id is not null) and occurred_at is not null"
    ).fetchone()[0]  # fmt: skip
    # no gap over 30 minutes inside a session, and sessions of one actor never overlap
    gaps = con.execute("""
        select count(*) from (
            select session_start, lag(session_end) over (partition by split_part(session_id, '#', 1) order by session_start) as previous_end
            from journey_sessions
        ) where previous_end is not null and session_start - previous_end <= interval 30 minute
    """).fetchone()[0]  # fmt: skip
    assert gaps == 0


def test_world_counts_and_loads(world):
    root, written, result, con = world
    events, raw_rows = bp.world_counts(result.tables)
    assert events == sum(result.tables[t] for t in bp.EVENT_TABLES)
    assert result.tables["src_shop__events"] > 0 and result.tables["src_iot__readings"] > 0
    assert raw_rows == result.json_rows + result.columnar_rows
    assert result.tables["src_loyalty__members"] == duckdb.connect().execute(
        f"select count(*) from read_parquet('{written['ground_truth']}') where identifier_type = 'loyalty_member'"
    ).fetchone()[0]  # fmt: skip
    assert result.component_rounds >= 2
    assert result.sqlite_reader


def test_parse_size():
    assert bp.parse_size("100k") == {"label": "100k", "events": 100_000}
    assert bp.parse_size("1m")["events"] == 1_000_000
    assert bp.parse_size("2500") == {"label": "2500", "events": 2500}
    assert bp.parse_size("20000p") == {"label": "20000p", "people": 20_000}
    with pytest.raises(ValueError):
        bp.parse_size("lots")


def _measure(ingest_json, ingest_columnar, transform, wall):
    stages = {"ingest": ingest_json + ingest_columnar, "ingest_json": ingest_json, "ingest_columnar": ingest_columnar,
              "transform": transform, "raw_checks": 1.0, "other": 2.0}  # fmt: skip
    return bp.RunMeasure(ok=True, wall_s=wall, run_s=wall - 5, steps={}, stages=stages, peak_rss=300 * 2**20, rss_samples=10)


def test_ratios_and_goals():
    base = {"json_load_s": 2.0, "columnar_load_s": 1.0, "models_s": 1.0, "total_s": 4.0}
    ratios, goals = bp.ratios(_measure(8.0, 2.0, 15.0, 40.0), base)
    assert ratios == {"ingest_json": 4.0, "ingest_columnar": 2.0, "transform": 15.0, "ingest_transform": 6.25, "total": 10.0}
    assert goals["json_ingest_within_3x_plus_10s"] and goals["columnar_ingest_within_1_5x_plus_10s"]
    assert not goals["ingest_transform_within_3x_plus_10s"]  # 25 s > 3 x 4 s + 10 s
    assert bp.ratios(_measure(8.0, 2.0, 12.0, 40.0), base)[1]["ingest_transform_within_3x_plus_10s"]  # 22 s = 22 s
    _, goals = bp.ratios(_measure(17.0, 12.0, 1.0, 40.0), base)
    assert not goals["json_ingest_within_3x_plus_10s"] and not goals["columnar_ingest_within_1_5x_plus_10s"]


def test_stage_of():
    assert bp.stage_of("ingest_shop") == "ingest"
    assert bp.stage_of("journey_dbt_models") == "transform"
    assert bp.stage_of("landing_checks_iot") == "raw_checks"
    assert bp.stage_of("serving_copy") == "other"


def test_table_and_plot(tmp_path):
    run = _measure(8.0, 2.0, 10.0, 40.0)
    done = bp.SizeResult(label="100k", people=3000, days=90, events=100_000, raw_rows=150_000, generate_s=3.0,
                         run=bp.asdict(run), baseline={"json_load_s": 2.0, "columnar_load_s": 1.0, "models_s": 1.0, "total_s": 4.0},
                         bytes_per_event=run.peak_rss / 100_000)  # fmt: skip
    done.ratios, done.goals = bp.ratios(run, done.baseline)
    skipped = bp.SizeResult(label="10m", people=300_000, days=90, status="skipped", reason="projected too long", events=10_000_000)
    lines = bp.table_lines([done, skipped], {"status": "skipped", "reason": "no --until"})
    assert any(line.split()[0] == "100k" and "100,000" in line and "3,000" in line for line in lines)
    assert any("10m" in line and "skipped: projected too long" in line for line in lines)
    assert lines[-1] == "incremental day: skipped: no --until"
    png = tmp_path / "plot.png"
    bp.plot([done, skipped], png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    json.dumps(bp.asdict(done))  # the result is JSON as written


def test_cli_registers_the_bench_and_rejects_bad_sizes():
    from click.testing import CliRunner

    from orchestration.cli import cli

    assert "pipeline" in CliRunner().invoke(cli, ["bench", "--help"]).output
    result = CliRunner().invoke(cli, ["bench", "pipeline", "--sizes", "100k,lots"])
    assert result.exit_code == 2 and "lots" in result.output
