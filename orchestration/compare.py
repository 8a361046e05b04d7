"""The same project on another engine, mart for mart: ``journey compare postgres`` (``make test-postgres``).

Builds the demo world on DuckDB and on the engine from the same source files (one generated world, one pseudonym
key, dlt into each, then dbt: seeds, models, data tests), and compares every table of the schemas ``marts`` and
``pii`` by :func:`checksum` over its rows normalised so that engines compare equal (numbers to 6 significant
digits, timestamps in UTC ISO, NULL as a marker, rows sorted). Prints a table (mart, rows duckdb, rows engine,
match) and writes ``$JW_DATA_DIR/compare-<engine>.json``; exits non-zero when a mart does not match (or is missing),
unless only columns listed in :data:`KNOWN_DIFFERENCES` (with the reason) differ.

Columns that record when the build ran (not what the data says) differ between any two builds, on one engine too;
they are left out of the checksum (:data:`BUILD_TIME_COLUMNS`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlsplit, urlunsplit

from ingestion import config

SCHEMAS = ("marts", "pii")
NULL = "\x00"  # the NULL marker: a NUL character, which no PostgreSQL text holds

# mart -> columns stamped with the build's own clock (dbt's run_started_at, a fit's duration): not data
BUILD_TIME_COLUMNS: dict[str, tuple[str, ...]] = {
    "campaign_plan": ("planned_at",),
    "segment_membership": ("evaluated_at", "evaluation_id"),  # dbt's run_started_at and invocation_id
    "segment_members": ("entered_at",),
    "campaign_assignments": ("assigned_at",),  # segment_members.entered_at
    "clv_model_runs": ("fitted_at", "fit_seconds", "run_id"),
}

# engine -> mart -> columns known to differ there, and why. The mart must still match without them (else the run
# fails); with them it may differ. An average of doubles rounded to 4 decimals: the engines add the doubles in
# another order, and an average that is a half at the 5th decimal (0.27365) lands on either side of it.
AVERAGE_OF_DOUBLES = ("an average of doubles rounded to 4 decimals: summed in another order, an average at a half of "
                      "the 5th decimal (0.27365) rounds up on one engine and down on the other (1 row in ~300)")
DELETES_ON_PARQUET = ("deleted shop customers stay in dlt's Parquet (the filesystem destination appends the delete "
                      "markers instead of deleting): the engine has their rows besides every DuckDB row")
SUM_OF_DOUBLES = "a sum of doubles in another order: the last digit of a rounded sum differs in a few rows"
KNOWN_DIFFERENCES: dict[str, dict[str, dict]] = {
    "postgres": {
        "customer_360": {"columns": ["avg_text_sentiment"], "reason": AVERAGE_OF_DOUBLES},
        "social_engagement": {"columns": ["avg_sentiment"], "reason": AVERAGE_OF_DOUBLES},
        "sentiment_daily": {"columns": ["avg_sentiment"], "reason": AVERAGE_OF_DOUBLES},
    },
    "spark": {
        # dlt's filesystem destination cannot delete: the shop's delete markers (hard_delete on deleted_at) are
        # appended, and the deleted customers stay in the lake. The engine has their rows on top of DuckDB's, and
        # every DuckDB row is there too (checked); the identity model scores 3 more records, which moves the review
        # pairs' probabilities. Fix: lake tables registered as views that apply dlt's merge (latest row per primary
        # key, no delete marker), or Delta/Iceberg tables.
        **{mart: {"extra_rows": True, "reason": DELETES_ON_PARQUET} for mart in (
            "stg_shop__customers", "int_identity__match_records", "person_identifiers", "person_contacts",
            "person_source_ids", "customer_360", "customer_engagement", "customer_lifecycle_history")},
        "identity_review": {"columns": ["match_probability", "match_weight"], "reason": DELETES_ON_PARQUET},
        "channel_daily": {"columns": ["attributed_revenue_position_based"], "reason": SUM_OF_DOUBLES},
    },
}


def _number(value: float | int | Decimal) -> str:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return format(float(value), ".6g")


def normalise(value: Any) -> str:
    """One value as text that is equal on every engine for equal data."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, Decimal)):
        return _number(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.isoformat(timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat(timespec="microseconds")
    if isinstance(value, dt.timedelta):
        return _number(value.total_seconds())
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(normalise(v) for v in value) + "]"
    if isinstance(value, dict):
        return json.dumps({str(k): normalise(v) for k, v in value.items()}, sort_keys=True)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


def checksum(rows: Iterable[Iterable[Any]]) -> str:
    """SHA-256 (hex) of ``rows`` normalised (:func:`normalise`) and sorted: the same for the same data on any engine."""
    lines = sorted(_row_key(row) for row in rows)
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode("utf-8"))
        digest.update(b"\x1e")
    return digest.hexdigest()


def _row_key(row: Iterable[Any]) -> str:
    return "\x1f".join(normalise(v) for v in row)


# --- reading the marts ---------------------------------------------------------------------------------------


def duckdb_tables(warehouse: Path) -> dict[str, dict]:
    """{schema.table: {"columns": [...], "rows": [...]}} of the marts and pii of a DuckDB warehouse."""
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        con.execute("set TimeZone = 'UTC'")
        names = con.execute(
            "select table_schema, table_name from information_schema.tables where table_schema in ('marts', 'pii') "
            "and table_catalog = current_database() order by 1, 2"
        ).fetchall()
        return {f"{s}.{t}": _read(con.execute(f'select * from "{s}"."{t}"')) for s, t in names}
    finally:
        con.close()


def postgres_tables(url: str) -> dict[str, dict]:
    """{schema.table: {"columns": [...], "rows": [...]}} of the marts and pii of a PostgreSQL database."""
    import psycopg2

    con = psycopg2.connect(url, options="-c TimeZone=UTC")
    try:
        with con.cursor() as cur:
            cur.execute(
                "select table_schema, table_name from information_schema.tables "
                "where table_schema in ('marts', 'pii') order by 1, 2"
            )
            names = cur.fetchall()
            result = {}
            for s, t in names:
                cur.execute(f'select * from "{s}"."{t}"')
                result[f"{s}.{t}"] = _read(cur)
            return result
    finally:
        con.close()


def _read(cursor) -> dict:
    columns = [d[0] for d in cursor.description]
    return {"columns": columns, "rows": cursor.fetchall()}


def compare_tables(reference: dict[str, dict], engine: dict[str, dict], engine_name: str) -> list[dict]:
    """One row per table of either side: rows on each, checksums (on the reference's columns less the build-time
    ones), and match: yes | no | missing; a mismatch only in columns of :data:`KNOWN_DIFFERENCES` carries the reason
    as ``known``."""
    known = KNOWN_DIFFERENCES.get(engine_name, {})
    result = []
    for name in sorted(set(reference) | set(engine)):
        mart = name.split(".", 1)[1]
        ref, eng = reference.get(name), engine.get(name)
        row: dict[str, Any] = {"mart": name, "rows_duckdb": None, f"rows_{engine_name}": None}
        if ref is None or eng is None:
            row.update(match="missing", reason="only on " + ("duckdb" if eng is None else engine_name))
        else:
            row["rows_duckdb"], row[f"rows_{engine_name}"] = len(ref["rows"]), len(eng["rows"])
            skipped = set(BUILD_TIME_COLUMNS.get(mart, ()))
            columns = [c for c in ref["columns"] if c not in skipped]
            missing = [c for c in columns if c not in eng["columns"]]
            if missing:
                row.update(match="no", reason=f"columns missing on {engine_name}: {', '.join(missing)}")
            else:
                ri = [ref["columns"].index(c) for c in columns]
                ei = [eng["columns"].index(c) for c in columns]
                row["checksum_duckdb"] = checksum([r[i] for i in ri] for r in ref["rows"])
                row[f"checksum_{engine_name}"] = checksum([r[i] for i in ei] for r in eng["rows"])
                row["match"] = "yes" if row["checksum_duckdb"] == row[f"checksum_{engine_name}"] else "no"
                if row["match"] == "no":
                    row["differing_columns"] = _differing_columns(ref, eng, columns)
                    allowed = known.get(mart, {})
                    if allowed.get("extra_rows") and _contains(eng["rows"], ei, ref["rows"], ri):
                        row["known"] = allowed["reason"]  # the engine's rows less some extra: every reference row
                    elif row["differing_columns"] and set(row["differing_columns"]) <= set(allowed.get("columns", [])):
                        rest = [c for c in columns if c not in allowed["columns"]]
                        same = checksum([r[ref["columns"].index(c)] for c in rest] for r in ref["rows"]) == checksum(
                            [r[eng["columns"].index(c)] for c in rest] for r in eng["rows"]
                        )
                        if same:  # every other column matches, row for row
                            row["known"] = allowed["reason"]
            if skipped:
                row["build_time_columns_skipped"] = sorted(skipped)
        result.append(row)
    return result


def _contains(rows: list, indexes: list[int], wanted: list, wanted_indexes: list[int]) -> bool:
    """Whether ``rows`` (columns ``indexes``) hold every row of ``wanted`` (columns ``wanted_indexes``), as often as
    ``wanted`` does, compared normalised as :func:`checksum` does."""
    from collections import Counter

    have = Counter(_row_key([r[i] for i in indexes]) for r in rows)
    need = Counter(_row_key([r[i] for i in wanted_indexes]) for r in wanted)
    return all(have[key] >= n for key, n in need.items())


def _differing_columns(ref: dict, eng: dict, columns: list[str]) -> list[str]:
    """The columns whose own checksum differs (a hint where to look)."""
    out = []
    for c in columns:
        a, b = ref["columns"].index(c), eng["columns"].index(c)
        if checksum([r[a]] for r in ref["rows"]) != checksum([r[b]] for r in eng["rows"]):
            out.append(c)
    return out


def format_table(rows: list[dict], engine_name: str) -> str:
    header = ("mart", "rows duckdb", f"rows {engine_name}", "match")
    body = [
        (r["mart"], "" if r["rows_duckdb"] is None else str(r["rows_duckdb"]),
         "" if r[f"rows_{engine_name}"] is None else str(r[f"rows_{engine_name}"]),
         r["match"] + (" (known)" if r.get("known") else ""))
        for r in rows
    ]  # fmt: skip
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, body)])


# --- building -----------------------------------------------------------------------------------------------


def compare_database_url(url: str | None = None) -> str:
    """The database the comparison builds on (dropped and created anew each time): ``$JW_COMPARE_POSTGRES_URL``,
    else the server of ``JW_POSTGRES_URL`` with database ``<its database>_compare``, never the warehouse itself."""
    if url or os.environ.get("JW_COMPARE_POSTGRES_URL"):
        return url or os.environ["JW_COMPARE_POSTGRES_URL"]
    parts = urlsplit(config.postgres_url())
    return urlunsplit(parts._replace(path="/" + (parts.path.lstrip("/") or "journey") + "_compare"))


def recreate_database(url: str) -> None:
    """Drops and creates the database of ``url`` (C collation: strings sort by code point, as on DuckDB)."""
    import psycopg2
    from psycopg2 import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = psycopg2.connect(urlunsplit(parts._replace(path="/postgres")))
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
            cur.execute(
                sql.SQL("create database {} template template0 encoding 'UTF8' lc_collate 'C' lc_ctype 'C'").format(
                    sql.Identifier(name)
                )
            )
    finally:
        admin.close()


def load_sources(log) -> None:
    """dlt: every source of the demo world into the destination of ``JW_DESTINATION``."""
    from ingestion import pipelines

    with pipelines.source_endpoints() as endpoints:
        for name in config.SOURCE_NAMES:
            info = pipelines.load(name, endpoints)
            if info.has_failed_jobs:
                raise RuntimeError(f"loading {name} into {config.destination()} had failed jobs")
    log(f"  loaded {', '.join(config.SOURCE_NAMES)} into {config.destination()}")


def build_engine(engine: str, work: Path, log, tests: bool = True) -> dict:
    """dlt + dbt of the world in ``work`` on ``engine`` (duckdb | postgres | spark): seeds, models and (``tests``) the
    data tests; returns what dbt reported."""
    from orchestration.lib import engine_python
    from orchestration.lib.dbt import run_dbt

    target = work / f"dbt_target_{engine}"
    started = time.monotonic()
    load_sources(log)
    loaded = time.monotonic()
    results: dict[str, Any] = {}

    def dbt(args: list[str]):
        done = run_dbt(args, config.warehouse_path(), target, log_dir=target / "logs")
        summary = next((line.split("Done. ", 1)[1] for line in done.stdout.splitlines() if "Done. " in line), "")
        log(f"  dbt {' '.join(args[:2])}{' ...' if len(args) > 2 else ''}: {summary or 'exit ' + str(done.returncode)}")
        results.setdefault("dbt", []).append({"args": args[:2], "returncode": done.returncode, "summary": summary})
        return done

    if engine == "spark":  # dlt wrote Parquet to the lake: external tables over it for the dbt sources
        from orchestration import spark

        registered = spark.register()
        log(f"  registered {sum(map(len, registered.values()))} lake tables on spark")
    if engine == "duckdb":
        dbt(["seed"])
        dbt(["run"])
        if tests:
            dbt(["test", "--exclude-resource-type", "unit_test"])
    else:
        built = engine_python.build(dbt, lambda: target / "manifest.json", log=lambda m: log("  " + m), tests=tests)
        results["python_models"] = built["python_models"]
    results["seconds"] = {"load": round(loaded - started, 1), "dbt": round(time.monotonic() - loaded, 1)}
    return results


def compare(engine: str, people: int = 300, days: int = 21, seed: int = 42, url: str | None = None,
            log=print, tests: bool = True) -> dict:  # fmt: skip
    """Generates the world, builds it on DuckDB and on ``engine`` (``tests``: and runs the data tests on both; they
    do not decide the comparison), compares the marts; returns the report (also written to
    ``$JW_DATA_DIR/compare-<engine>.json``)."""
    if engine not in ("postgres", "spark"):
        raise ValueError(f"no comparison for engine {engine!r} (postgres, spark)")
    if engine == "spark":  # the server of this data directory, if any, gives way to the comparison's own
        from orchestration import spark

        spark.stop()
    from ingestion.demo_world.generator import generate
    from ingestion.demo_world.writers import write_world

    out_dir = config.data_dir()
    work = out_dir / f"compare-{engine}"
    work.mkdir(parents=True, exist_ok=True)
    engine_url = compare_database_url(url)
    started = time.monotonic()
    with config.environment(JW_DATA_DIR=str(work), JW_WAREHOUSE_PATH=None, JW_PSEUDONYM_KEY_FILE=None, JW_DESTINATION=None,
                     JW_POSTGRES_URL=engine_url, JW_LAKE_DIR=None, JW_HISTORY_DIR=None):  # fmt: skip
        for stale in ("warehouse.duckdb", "warehouse.duckdb.wal", "dlt_pipelines", f"dlt_pipelines_{engine}", "lake"):
            path = work / stale
            if path.is_dir():
                import shutil

                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        write_world(generate(seed, people, days), config.source_systems_dir())
        log(f"demo world: {people} people, {days} days, seed {seed} -> {config.source_systems_dir()}")
        log("duckdb:")
        with config.environment(JW_DESTINATION="duckdb"):
            duck = build_engine("duckdb", work, log, tests)
        log(f"{engine}:")
        if engine == "spark":
            # a fresh metastore, and a server that holds this world's pseudonym key (orchestration/spark.py)
            spark.reset()
            pid, seconds = spark.start()
            log(f"  spark thrift server: pid {pid}, accepting after {seconds:.1f} s")
            try:
                with config.environment(JW_DESTINATION=engine):
                    other = build_engine(engine, work, log, tests)
                other["thrift_server_start_seconds"] = round(seconds, 1)
                engine_side = spark.engine_tables(SCHEMAS)
            finally:
                spark.stop()
        else:
            recreate_database(engine_url)
            with config.environment(JW_DESTINATION=engine):
                other = build_engine(engine, work, log, tests)
            engine_side = postgres_tables(engine_url)
        rows = compare_tables(duckdb_tables(config.warehouse_path()), engine_side, engine)
    unexpected = [r["mart"] for r in rows if r["match"] != "yes" and not r.get("known")]
    report = {
        "engine": engine,
        "world": {"people": people, "days": days, "seed": seed},
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - started, 1),
        "builds": {"duckdb": duck, engine: other},
        "marts": rows,
        "matched": sum(r["match"] == "yes" for r in rows),
        "total": len(rows),
        "known_differences": KNOWN_DIFFERENCES.get(engine, {}),
        "build_time_columns": BUILD_TIME_COLUMNS,
        "unexpected": unexpected,
        "ok": not unexpected,
    }
    path = out_dir / f"compare-{engine}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    log(format_table(rows, engine))
    log(f"{report['matched']} of {report['total']} marts match on {engine}; report: {path}")
    if unexpected:
        log(f"unexpected differences: {', '.join(unexpected)}")
    return report
