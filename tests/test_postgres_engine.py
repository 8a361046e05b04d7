"""The same project on PostgreSQL: the demo world built on DuckDB and on PostgreSQL from the same files, every mart
compared by checksum (orchestration.compare, `journey compare postgres`, `make test-postgres`).

Needs PostgreSQL (JW_TEST_POSTGRES_SERVER, default postgresql://postgres@127.0.0.1:5432): a database of its own is
created and dropped. A few minutes: two full builds of a small world.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from decimal import Decimal
from urllib.parse import urlsplit, urlunsplit

import pytest

from orchestration import compare
from orchestration.lib.dbt import DBT_PROJECT_DIR

SERVER = os.environ.get("JW_TEST_POSTGRES_SERVER", "postgresql://postgres@127.0.0.1:5432")
# marts every build of the demo world fills (a comparison of empty tables proves little)
CORE_MARTS = ("marts.customer_360", "marts.touchpoints", "marts.journey_sessions", "marts.attribution",
              "marts.channel_daily", "marts.customer_rfm", "pii.person_identifiers", "pii.person_contacts")  # fmt: skip


def test_checksum_is_equal_for_equal_data_in_another_engines_shape():
    utc = dt.timezone.utc
    cet = dt.timezone(dt.timedelta(hours=1))
    duck = [(1, 0.1 + 0.2, dt.datetime(2026, 3, 1, 12, 0, tzinfo=utc), None, "a"), (2, 5.0, None, True, "b")]
    engine = [(Decimal("2"), Decimal("5"), None, True, "b"),  # other order, numeric for integers and doubles
              (1, Decimal("0.3000000"), dt.datetime(2026, 3, 1, 13, 0, tzinfo=cet), None, "a")]  # fmt: skip
    assert compare.checksum(duck) == compare.checksum(engine)


@pytest.mark.parametrize(
    "changed",
    [
        [(1, 0.30001, dt.datetime(2026, 3, 1, 12, tzinfo=dt.timezone.utc), None, "a")],  # 6th significant digit
        [(1, 0.3, dt.datetime(2026, 3, 1, 12, 0, 1, tzinfo=dt.timezone.utc), None, "a")],  # a second later
        [(1, 0.3, dt.datetime(2026, 3, 1, 12, tzinfo=dt.timezone.utc), "\\N", "a")],  # the marker's text is no NULL
        [(1, 0.3, dt.datetime(2026, 3, 1, 12, tzinfo=dt.timezone.utc), None, "A")],
        [],
    ],
)
def test_checksum_differs_when_a_value_does(changed):
    base = [(1, 0.3, dt.datetime(2026, 3, 1, 12, tzinfo=dt.timezone.utc), None, "a")]
    assert compare.checksum(base) != compare.checksum(changed)


def test_compare_tables_reports_mismatch_missing_and_build_time_columns():
    ref = {
        "marts.a": {"columns": ["id", "x"], "rows": [(1, 1.0)]},
        "marts.b": {"columns": ["id"], "rows": [(1,)]},
        "marts.campaign_plan": {"columns": ["id", "planned_at"], "rows": [(1, dt.datetime(2026, 1, 1))]},
    }
    eng = {
        "marts.a": {"columns": ["id", "x"], "rows": [(1, 2.0)]},
        "marts.campaign_plan": {"columns": ["id", "planned_at"], "rows": [(1, dt.datetime(2026, 1, 2))]},
    }
    rows = {r["mart"]: r for r in compare.compare_tables(ref, eng, "postgres")}
    assert rows["marts.a"]["match"] == "no" and rows["marts.a"]["differing_columns"] == ["x"]
    assert rows["marts.b"]["match"] == "missing"
    assert rows["marts.campaign_plan"]["match"] == "yes"  # planned_at: when the build ran, not data


@pytest.fixture()
def database_url():
    import psycopg2

    name = f"jw_test_compare_{os.getpid()}"
    url = urlunsplit(urlsplit(SERVER)._replace(path="/" + name))
    try:
        psycopg2.connect(urlunsplit(urlsplit(SERVER)._replace(path="/postgres"))).close()
    except psycopg2.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {SERVER} (start it, or run .ci/run): {exc}")
    yield url
    admin = psycopg2.connect(urlunsplit(urlsplit(SERVER)._replace(path="/postgres")))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'drop database if exists "{name}" with (force)')
    admin.close()


def test_every_mart_matches_duckdb_on_postgres(tmp_path, monkeypatch, database_url):
    monkeypatch.setenv("JW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    lines: list[str] = []
    report = compare.compare("postgres", people=300, days=21, seed=42, url=database_url, log=lines.append, tests=False)

    written = json.loads((tmp_path / "compare-postgres.json").read_text())
    assert written["matched"] == report["matched"] and written["total"] == report["total"]
    marts = {r["mart"]: r for r in report["marts"]}
    # every mart of the project was built on both engines: nothing missing, nothing only on one side
    assert [m for m, r in marts.items() if r["match"] == "missing"] == []
    mart_models = list((DBT_PROJECT_DIR / "models" / "marts").rglob("*.sql"))
    assert sum(m.startswith("marts.") for m in marts) == len(mart_models) >= 30
    assert {"pii.person_identifiers", "pii.person_contacts"} <= set(marts) and sum(m.startswith("pii.") for m in marts) >= 10
    for mart in CORE_MARTS:
        assert marts[mart]["rows_duckdb"] > 0, mart
    # the Python models ran on PostgreSQL's side too (orchestration.lib.engine_python)
    python_models = report["builds"]["postgres"]["python_models"]
    assert len(python_models) == 7 and all("error" not in p and p["rows_written"] > 0 for p in python_models), python_models
    unexpected = {m: r.get("differing_columns") for m, r in marts.items() if r["match"] != "yes" and not r.get("known")}
    assert unexpected == {}, "marts that differ on PostgreSQL:\n" + "\n".join(lines[-80:])
    assert report["ok"]
    assert any(line.startswith("mart") and "rows postgres" in line for line in lines)  # the printed table


def test_jw_destination_chooses_where_dlt_loads_and_the_dbt_target(tmp_path, monkeypatch):
    from ingestion import config, pipelines
    from orchestration.lib.dbt import engine_env

    monkeypatch.setenv("JW_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("JW_DESTINATION", raising=False)
    assert config.destination() == "duckdb" and pipelines.build_destination().destination_name == "duckdb"
    assert engine_env() == {"JW_DESTINATION": "duckdb"}

    monkeypatch.setenv("JW_DESTINATION", "postgres")
    monkeypatch.setenv("JW_POSTGRES_URL", "postgresql://ana:s%40cret@db.example:6543/shopdw")
    assert config.postgres_dbt_env() == {"JW_PG_HOST": "db.example", "JW_PG_PORT": "6543", "JW_PG_USER": "ana",
                                         "JW_PG_PASSWORD": "s@cret", "JW_PG_DBNAME": "shopdw"}  # fmt: skip
    env = engine_env()
    assert env["JW_DESTINATION"] == "postgres" and "-c TimeZone=UTC" in env["PGOPTIONS"]
    assert pipelines.build_destination().destination_name == "postgres" and pipelines.loader_file_format() == "csv"
    assert config.pipelines_dir() == tmp_path / "dlt_pipelines_postgres"  # never the DuckDB pipelines' state
    # an explicit warehouse file is DuckDB whatever the setting (tests, tools)
    assert pipelines.make_pipeline("shop", tmp_path / "w.duckdb", tmp_path / "dlt").destination.destination_name == "duckdb"

    monkeypatch.setenv("JW_DESTINATION", "spark")
    destination = pipelines.build_destination()
    assert destination.destination_name == "filesystem" and pipelines.loader_file_format() == "parquet"
    assert (tmp_path / "lake").is_dir()

    monkeypatch.setenv("JW_DESTINATION", "oracle")
    with pytest.raises(ValueError, match="JW_DESTINATION"):
        config.destination()
