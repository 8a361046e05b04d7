"""Secrets never reach a file the run writes nor an error message: canary tokens and a canary database password
are planted in the environment, the whole graph runs on the small world (dlt at DEBUG, the level that prints
requests), then sources fail with the secrets set; every file under the data folder (warehouse, dlt pipeline
folders with their traces and load packages, the Dagster instance and its event log, the run logs), the errors
the runs report and everything the test process printed are searched for the canaries.

The demo APIs are served with the canary tokens as their accepted tokens (so the sources really send them); the
loyalty DB is the small world's in a PostgreSQL database of the test's own, reached as a role whose password is
a canary (the local server trusts 127.0.0.1, so the password is not checked there, but it is in the URL the
source is given, which is what could leak).
"""

import logging
import os
import uuid
from pathlib import Path

import psycopg2
import pytest

from ingestion.demo_world.api_server import serve
from ingestion.demo_world.writers import write_loyalty_db, write_world
from orchestration.demo import report, run_and_summarize, run_pipeline

ADMIN = os.environ.get("JW_TEST_POSTGRES_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
CANARIES = {name: f"canary{name}{uuid.uuid4().hex}" for name in ("shop", "esp", "social", "dbpassword")}


def _admin():
    connection = psycopg2.connect(ADMIN)
    connection.autocommit = True
    return connection


@pytest.fixture()
def loyalty_database(small_world):
    """The small world's loyalty DB in a fresh PostgreSQL database, readable by a role with a canary password."""
    suffix = uuid.uuid4().hex[:8]
    database, role, schema = f"jw_canary_{suffix}", f"jw_canary_{suffix}", "loyalty_pos"
    admin = _admin()
    with admin.cursor() as cursor:
        cursor.execute(f"create database {database}")
        cursor.execute(f"create role {role} login password %s", [CANARIES["dbpassword"]])
    write_loyalty_db(small_world, f"postgresql+psycopg2://postgres@127.0.0.1:5432/{database}", schema=schema)
    with psycopg2.connect(f"postgresql://postgres@127.0.0.1:5432/{database}") as connection, connection.cursor() as cursor:
        cursor.execute(f"grant usage on schema {schema} to {role}; grant select on all tables in schema {schema} to {role}")
    connection.close()
    yield f"postgresql+psycopg2://{role}:{CANARIES['dbpassword']}@127.0.0.1:5432/{database}", schema, database
    with admin.cursor() as cursor:
        cursor.execute(f"drop database if exists {database} with (force)")
        cursor.execute(f"drop role if exists {role}")
    admin.close()


def _leaks(root: Path, texts: dict[str, str]) -> list[str]:
    """Where a canary (as is, or URL-encoded: the same here) occurs: files under ``root`` and the given texts."""
    found = []
    needles = {name: value.encode() for name, value in CANARIES.items()}
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{name} in {path.relative_to(root)}" for name, needle in needles.items() if needle in data]
    for where, text in texts.items():
        found += [f"{name} in {where}" for name, value in CANARIES.items() if value in text]
    return found


def test_no_canary_secret_in_any_file_or_error(small_world, loyalty_database, tmp_path, monkeypatch, capfd, caplog):
    data = tmp_path / "data"
    (data / "dagster_home").mkdir(parents=True)
    for name, value in {"JW_DATA_DIR": str(data), "DAGSTER_HOME": str(data / "dagster_home"), "RUNTIME__LOG_LEVEL": "DEBUG"}.items():
        monkeypatch.setenv(name, value)
    write_world(small_world, data / "source_systems")
    url, schema, database = loyalty_database
    monkeypatch.setenv("JW_LOYALTY_DB_URL", url)
    monkeypatch.setenv("JW_LOYALTY_DB_SCHEMA", schema)
    for name in ("shop", "esp", "social"):
        monkeypatch.setenv(f"JW_{name.upper()}_API_TOKEN", CANARIES[name])
    dlt_logger = logging.getLogger("dlt")
    level = dlt_logger.level
    dlt_logger.setLevel(logging.DEBUG)  # whatever level an earlier pipeline in this process set up
    try:
        tokens = {name: {"token": CANARIES[name]} for name in ("shop", "esp", "social")}
        with serve(data / "source_systems" / "api", options=tokens) as base:
            for name in ("shop", "esp", "social"):
                monkeypatch.setenv(f"JW_{name.upper()}_API_URL", f"{base}/{name}")
            summary = run_and_summarize("canary_run")
            assert summary.success, summary.errors  # the sources really ran with the canaries
            assert not summary.failed_checks, summary.failed_checks
        # then the sources fail with the secrets set: the APIs refuse the tokens, the loyalty database is not there
        wrong = {name: {"token": "not-the-canary"} for name in ("shop", "esp", "social")}
        monkeypatch.setenv("JW_LOYALTY_DB_URL", url.replace(database, database + "_missing"))
        with serve(data / "source_systems" / "api", options=wrong) as base:
            for name in ("shop", "esp", "social"):
                monkeypatch.setenv(f"JW_{name.upper()}_API_URL", f"{base}/{name}")
            from orchestration.definitions import defs

            failing = [key for key in defs.resolve_asset_graph().get_all_asset_keys()
                       if key.path[0] in ("shop", "esp", "social", "loyalty")]  # fmt: skip
            log = data / "logs" / "canary_failing.log"
            import contextlib

            with open(log, "w") as handle, contextlib.redirect_stdout(handle), contextlib.redirect_stderr(handle):
                failed = run_pipeline(asset_selection=failing)
        failed_report = report(failed)
    finally:
        dlt_logger.setLevel(level)
    assert not failed.success
    assert {step.split(".")[0] for step in failed_report.failed_steps} >= {"ingest_shop", "ingest_esp", "ingest_social", "ingest_loyalty"}
    errors = [e.step_failure_data.error for e in failed.all_events if e.is_step_failure and e.step_failure_data]
    full_errors = []
    for error in errors:  # the whole chain: messages and stacks, as the event log keeps them
        while error is not None:
            full_errors.append(error.to_string())
            error = error.cause
    assert any("401" in e or "403" in e or "nauthori" in e for e in full_errors), full_errors[:3]
    assert any("does not exist" in e for e in full_errors)
    output = capfd.readouterr()
    texts = {"errors": "\n".join(full_errors), "summary errors": repr(failed_report.errors),
             "stdout": output.out, "stderr": output.err, "log records": caplog.text}  # fmt: skip
    written = sorted(p.relative_to(data).parts[0] for p in data.iterdir())
    assert {"dagster_home", "dlt_pipelines", "logs", "warehouse.duckdb"} <= set(written)
    assert (data / "logs" / "canary_run.log").stat().st_size > 0
    assert _leaks(data, texts) == []
