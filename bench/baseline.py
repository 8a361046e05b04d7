"""The DuckDB-native baseline of ``journey bench pipeline``: plain DuckDB reads the demo world's source files itself and
builds ``customer_360`` and ``journey_sessions`` directly in SQL (``bench/baseline.sql``).

The files are the ones the pipeline reads: the JSON snapshots behind the demo API server (``api/<system>/*.json``,
read with ``read_json``; nested lists of structs unnested into child tables, as dlt makes child tables), the IoT drop
(NDJSON, ``read_json`` with ``ignore_errors``: the drop has malformed lines on purpose), the loyalty SQLite database
(DuckDB's ``sqlite`` scanner when the extension can be loaded; without network it cannot be installed here, then
Python's ``sqlite3`` hands DuckDB Arrow tables: the fallback is recorded in the result) and the history files
(``read_csv`` / ``read_parquet``).

Timed apart, because the issue's goals are split that way: the JSON sources (API snapshots and IoT NDJSON), the
columnar sources (loyalty SQL, history Parquet/CSV) and the models.
"""

from __future__ import annotations

import re
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa  # imported here, not inside the timed SQLite fallback

SQL_PATH = Path(__file__).with_name("baseline.sql")
SOCIAL_ACTOR_COLLECTIONS = ("comments", "reactions", "sharedposts", "tags", "checkins")
MAX_COMPONENT_ROUNDS = 64


@dataclass
class BaselineResult:
    json_load_s: float = 0.0
    columnar_load_s: float = 0.0
    models_s: float = 0.0
    json_rows: int = 0
    columnar_rows: int = 0
    customer_360_rows: int = 0
    journey_sessions_rows: int = 0
    touchpoints: int = 0
    component_rounds: int = 0
    sqlite_reader: str = ""
    tables: dict[str, int] = field(default_factory=dict)

    @property
    def total_s(self) -> float:
        return self.json_load_s + self.columnar_load_s + self.models_s

    def as_dict(self) -> dict:
        return {**asdict(self), "total_s": round(self.total_s, 3)}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _count(con, table: str) -> int:
    return con.execute(f"select count(*) from {_quote(table)}").fetchall()[0][0]


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def load_json_sources(con, root: Path, result: BaselineResult) -> None:
    """API snapshots (one table per collection, a child table per list of structs) and the IoT NDJSON drop."""
    for path in sorted((root / "api").glob("*/*.json")):
        table = f"src_{path.parent.name}__{path.stem}"
        con.execute(f"create or replace table {_quote(table)} as select * from read_json('{_sql_path(path)}', format='array')")
        result.tables[table] = _count(con, table)
        for name, kind, *_ in con.execute(f"describe {_quote(table)}").fetchall():
            if kind.startswith("STRUCT(") and kind.endswith("[]"):
                child = f"{table}__{name}"
                con.execute(f"create or replace table {_quote(child)} as select unnest({_quote(name)}, recursive := true) from {_quote(table)}")
                result.tables[child] = _count(con, child)
    social = [f"src_social__{c}" for c in SOCIAL_ACTOR_COLLECTIONS if f"src_social__{c}" in result.tables]
    con.execute(
        "create or replace view src_social__actors as "
        + " union all ".join(f"select id, \"from\", created_time from {_quote(t)}" for t in social)
    )
    drop = root / "iot_drop"
    con.execute(
        "create or replace table src_iot__readings as select * from read_json("
        f"'{_sql_path(drop / 'readings')}/*.ndjson', format='newline_delimited', ignore_errors=true, union_by_name=true) "
        "where reading_id is not null and device_id is not null and recorded_at is not null"
    )
    result.tables["src_iot__readings"] = _count(con, "src_iot__readings")
    # the registry: a snapshot and change files; a device's state is its newest row
    con.execute(
        "create or replace table src_iot__devices as select * from read_json("
        f"'{_sql_path(drop / 'devices')}/*.ndjson', format='newline_delimited', ignore_errors=true, union_by_name=true) "
        "where device_id is not null qualify row_number() over (partition by device_id order by updated_at desc) = 1"
    )
    result.tables["src_iot__devices"] = _count(con, "src_iot__devices")
    result.json_rows = sum(n for t, n in result.tables.items() if t.startswith(("src_shop", "src_esp", "src_social", "src_iot")))


def _load_sqlite(con, database: Path, result: BaselineResult) -> list[str]:
    installed = con.execute(
        "select count(*) from duckdb_extensions() where extension_name in ('sqlite', 'sqlite_scanner') and (installed or loaded)"
    ).fetchall()[0][0]  # asking DuckDB to install it offline costs seconds of timeouts: only load one that is there
    try:
        if not installed:
            raise duckdb.IOException("the sqlite extension is not installed")
        con.execute("load sqlite")
        con.execute(f"attach '{_sql_path(database)}' as loyalty_db (type sqlite, read_only)")
    except duckdb.Error:
        result.sqlite_reader = "python sqlite3 -> arrow (duckdb's sqlite extension is not installed, not installable offline)"

        tables = []
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as lite:
            names = [r[0] for r in lite.execute("select name from sqlite_master where type = 'table' and name not like 'sqlite_%'")]
            for name in names:
                cursor = lite.execute(f"select * from {_quote(name)}")
                columns = [d[0] for d in cursor.description]
                rows = cursor.fetchall()
                arrow = pa.table({c: pa.array([r[i] for r in rows]) for i, c in enumerate(columns)}) if rows else None
                table = f"src_loyalty__{name}"
                if arrow is None:
                    con.execute(f"create or replace table {_quote(table)} ({', '.join(_quote(c) + ' varchar' for c in columns)})")
                else:
                    con.register("_sqlite_rows", arrow)
                    con.execute(f"create or replace table {_quote(table)} as select * from _sqlite_rows")
                    con.unregister("_sqlite_rows")
                tables.append(table)
        return tables
    result.sqlite_reader = "duckdb sqlite scanner"
    names = [r[0] for r in con.execute("select table_name from information_schema.tables where table_catalog = 'loyalty_db'").fetchall()]
    tables = []
    for name in names:
        table = f"src_loyalty__{name}"
        con.execute(f"create or replace table {_quote(table)} as select * from loyalty_db.{_quote(name)}")
        tables.append(table)
    con.execute("detach loyalty_db")
    return tables


def load_columnar_sources(con, root: Path, result: BaselineResult) -> None:
    """The loyalty database and the history files (CSV exports and Parquet, column names normalised)."""
    tables = _load_sqlite(con, root / "loyalty.sqlite", result)
    history = root / "history"
    parts = []
    for n, path in enumerate(sorted(history.rglob("*"))):
        if path.suffix.lower() == ".csv":
            reader = f"read_csv('{_sql_path(path)}', normalize_names=true, all_varchar=true)"
        elif path.suffix.lower() == ".parquet":
            reader = f"read_parquet('{_sql_path(path)}')"
        else:
            continue
        part = f"src_history__part{n}"
        con.execute(f"create or replace table {part} as select * from {reader}")
        parts.append(part)
    columns = ("order_id", "shop_customer_id", "loyalty_member_id", "email", "amount", "channel")
    select = " union all ".join(
        "select " + ", ".join(f"cast({_quote(c)} as varchar) as {c}" for c in columns) + f" from {p}" for p in parts
    ) or "select " + ", ".join(f"null::varchar as {c}" for c in columns) + " where false"
    con.execute(f"create or replace table src_history__orders as {select}")
    tables.append("src_history__orders")
    for table in tables:
        result.tables[table] = _count(con, table)
    result.columnar_rows = sum(result.tables[t] for t in tables)


# full-width forms (U+FF01..U+FF5E, U+3000) to their ASCII letters, as people's keyboards produce them
_FULLWIDTH = "".join(chr(c) for c in range(0xFF01, 0xFF5F)) + "\u3000"
_ASCII = "".join(chr(c) for c in range(0x21, 0x7F)) + " "


def statements(sql: str) -> list[str]:
    sql = sql.replace("{FULLWIDTH}", _FULLWIDTH.replace("'", "''")).replace("{ASCII}", _ASCII.replace("'", "''"))
    return [s.strip() for s in re.split(r"^-- ;\s*$", sql, flags=re.M) if s.strip()]


def build_models(con, result: BaselineResult) -> None:
    for statement in statements(SQL_PATH.read_text()):
        if statement.startswith("-- @components"):
            for n in range(1, MAX_COMPONENT_ROUNDS + 1):
                con.execute(statement)
                changed = con.execute(
                    "select count(*) from bl_labels_next join bl_labels using (vertex) where bl_labels_next.label <> bl_labels.label"
                ).fetchall()[0][0]
                con.execute("create or replace table bl_labels as select * from bl_labels_next")
                result.component_rounds = n
                if not changed:
                    break
            else:
                raise RuntimeError(f"identity components did not converge in {MAX_COMPONENT_ROUNDS} rounds")
        else:
            con.execute(statement)
    result.customer_360_rows = _count(con, "customer_360")
    result.journey_sessions_rows = _count(con, "journey_sessions")
    result.touchpoints = _count(con, "bl_touchpoints")


def run_baseline(source_systems: Path, database: Path | str = ":memory:", threads: int | None = None) -> tuple[BaselineResult, duckdb.DuckDBPyConnection]:
    """Load every source file of ``source_systems`` into ``database`` and build the two models; timings in the result.

    Returns the result and the open connection (for checks; the caller closes it)."""
    result = BaselineResult()
    con = duckdb.connect(str(database))
    if threads:
        con.execute(f"set threads = {int(threads)}")
    t = time.perf_counter()
    load_json_sources(con, Path(source_systems), result)
    result.json_load_s = time.perf_counter() - t
    t = time.perf_counter()
    load_columnar_sources(con, Path(source_systems), result)
    result.columnar_load_s = time.perf_counter() - t
    t = time.perf_counter()
    build_models(con, result)
    result.models_s = time.perf_counter() - t
    return result, con


if __name__ == "__main__":
    import json
    import sys

    res, connection = run_baseline(Path(sys.argv[1]))
    connection.close()
    print(json.dumps(res.as_dict(), indent=2, default=str))
