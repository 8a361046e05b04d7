"""The project's dbt Python models on engines whose dbt adapter runs none (PostgreSQL).

dbt-duckdb runs ``model(dbt, session)`` of each Python model inside the warehouse. dbt-postgres cannot, so there
each Python model is disabled and a stand-in SQL model of the same name (``models/python_on_engines/<name>.sql``,
tag ``python_on_engines``) selects the table ``python_models.<name>``. This module fills that table by running the
Python model's own ``model(dbt, session)``, unchanged, on an in-process DuckDB session (``engine_python.duckdb``
next to the warehouse file, so the pseudonym key is the one the engine's ``keyed_hash`` uses) whose ``dbt.ref``
are the model's parents read from the engine. Same code on the same engine as on DuckDB: the same rows.

:func:`build` drives dbt in waves: the SQL parents of the next Python models, those models here, and so on;
then the rest of the project (``dbt run``), then its data tests. Slower than one ``dbt build`` (a copy of each Python model's
inputs over the wire), linear in their size.
"""

from __future__ import annotations

import importlib.util
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ingestion import config

SCHEMA = "python_models"
TAG = "python_on_engines"

# PostgreSQL data type (information_schema) -> DuckDB type of the copy the Python model reads
PG_TO_DUCKDB = {
    "text": "VARCHAR", "character varying": "VARCHAR", "character": "VARCHAR", "uuid": "VARCHAR", "json": "VARCHAR",
    "jsonb": "VARCHAR", "bigint": "BIGINT", "integer": "INTEGER", "smallint": "SMALLINT", "double precision": "DOUBLE",
    "real": "FLOAT", "boolean": "BOOLEAN", "timestamp with time zone": "TIMESTAMPTZ",
    "timestamp without time zone": "TIMESTAMP", "date": "DATE", "interval": "INTERVAL",
}  # fmt: skip
PG_ARRAY_TO_DUCKDB = {"_text": "VARCHAR[]", "_varchar": "VARCHAR[]", "_int8": "BIGINT[]", "_int4": "INTEGER[]",
                      "_float8": "DOUBLE[]", "_bool": "BOOLEAN[]", "_numeric": "DOUBLE[]"}  # fmt: skip


def duckdb_to_pg(duck_type: str) -> str:
    """The PostgreSQL column type for a DuckDB result column."""
    t = duck_type.upper()
    if t.endswith("[]"):
        return duckdb_to_pg(t[:-2]) + "[]"
    if t.startswith("DECIMAL"):
        return t.replace("DECIMAL", "numeric")
    return {
        "VARCHAR": "text", "BIGINT": "bigint", "INTEGER": "integer", "SMALLINT": "smallint", "TINYINT": "smallint",
        "HUGEINT": "numeric", "UBIGINT": "numeric", "UINTEGER": "bigint", "USMALLINT": "integer", "UTINYINT": "smallint",
        "DOUBLE": "double precision", "FLOAT": "real", "BOOLEAN": "boolean", "DATE": "date",
        "TIMESTAMP WITH TIME ZONE": "timestamptz", "TIMESTAMP": "timestamp", "INTERVAL": "interval", "JSON": "jsonb",
        '"NULL"': "text", "NULL": "text", "UUID": "uuid",
    }.get(t, "text")  # fmt: skip


@dataclass
class _Config:
    values: dict

    def __call__(self, **_: Any) -> None:  # dbt.config(materialized=...): the stand-in's config decides
        return None

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)


@dataclass
class _Dbt:
    """What a model's ``dbt`` argument offers here: ``ref`` (a DuckDB relation), ``config`` and ``is_incremental``,
    always false: a Python model's stand-in table is written whole on every build."""

    session: Any
    config: _Config
    tables: dict = field(default_factory=dict)
    is_incremental: bool = False

    def ref(self, name: str, *_, **__):
        return self.session.table(self.tables[name])

    def source(self, *_: Any, **__: Any):
        raise NotImplementedError("Python models of this project read refs only")


def _pg_connect(url: str | None = None):
    import psycopg2

    return psycopg2.connect(url or config.postgres_url())


def _read_into_duckdb(pg, session, schema: str, table: str, local: str) -> int:
    """Copies ``schema.table`` of PostgreSQL into DuckDB table ``local`` with matching types; returns rows."""
    import pyarrow as pa

    with pg.cursor() as cur:
        cur.execute(
            "select column_name, data_type, udt_name, numeric_precision, numeric_scale from information_schema.columns "
            "where table_schema = %s and table_name = %s order by ordinal_position",
            (schema, table),
        )
        columns = cur.fetchall()
        if not columns:
            raise LookupError(f"{schema}.{table} not found on the engine")
        cur.execute(f'select * from "{schema}"."{table}"')
        rows = cur.fetchall()
    types = []
    for name, data_type, udt, precision, scale in columns:
        if data_type == "ARRAY":
            types.append(PG_ARRAY_TO_DUCKDB.get(udt, "VARCHAR[]"))
        elif data_type == "numeric":
            types.append(f"DECIMAL({precision},{scale})" if precision and precision <= 38 else "DOUBLE")
        else:
            types.append(PG_TO_DUCKDB.get(data_type, "VARCHAR"))
    definition = ", ".join(f'"{c[0]}" {t}' for c, t in zip(columns, types))
    session.execute(f'create or replace table "{local}" ({definition})')
    if rows:
        data = {}
        for i, (column, duck_type) in enumerate(zip(columns, types)):
            values = [row[i] for row in rows]
            if duck_type == "DOUBLE":
                values = [None if v is None else float(v) for v in values]
            elif duck_type == "VARCHAR":
                values = [None if v is None else (v if isinstance(v, str) else json.dumps(v) if isinstance(v, (dict, list)) else str(v)) for v in values]
            data[column[0]] = values
        arrow = pa.Table.from_pydict({k: pa.array(v) if any(x is not None for x in v) else pa.nulls(len(v)) for k, v in data.items()})
        session.register("_incoming", arrow)
        session.execute(f'insert into "{local}" select * from _incoming')
        session.unregister("_incoming")
    return len(rows)


def _write_to_pg(pg, session, result_table: str, name: str) -> int:
    """Replaces ``python_models.<name>`` on PostgreSQL with DuckDB table ``result_table``; returns rows."""
    from psycopg2.extras import execute_values

    described = session.execute(f'describe "{result_table}"').fetchall()
    definition = ", ".join(f'"{col}" {duckdb_to_pg(col_type)}' for col, col_type, *_ in described)
    rows = session.execute(f'select * from "{result_table}"').fetchall()
    with pg.cursor() as cur:
        cur.execute(f'create schema if not exists "{SCHEMA}"')
        cur.execute(f'drop table if exists "{SCHEMA}"."{name}"')
        cur.execute(f'create table "{SCHEMA}"."{name}" ({definition})')
        if rows:
            execute_values(cur, f'insert into "{SCHEMA}"."{name}" values %s', rows, page_size=2000)
    pg.commit()
    return len(rows)


def run_python_model(manifest: dict, name: str, pg_url: str | None = None) -> dict:
    """Runs Python model ``name`` (disabled on this engine) over its parents on the engine; writes its rows to
    ``python_models.<name>`` there. Returns rows read and written and seconds taken."""
    import duckdb

    from ingestion import dbt_pseudonym, pseudonym
    from orchestration.lib.dbt import DBT_PROJECT_DIR

    started = time.monotonic()
    python_node = next(n for nodes in manifest["disabled"].values() for n in nodes
                       if n["name"] == name and n["language"] == "python")  # fmt: skip
    stand_in = next(n for n in manifest["nodes"].values() if n["resource_type"] == "model" and n["name"] == name)
    by_name = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] in ("model", "seed")}
    # a parent that is itself a Python model's stand-in: its rows as the Python model wrote them
    by_name.update({n["name"]: {**n, "schema": SCHEMA, "alias": n["name"]}
                    for n in manifest["nodes"].values() if TAG in n.get("tags", [])})  # fmt: skip
    session_path = config.warehouse_path().with_name("engine_python.duckdb")  # next to the key file
    session_path.unlink(missing_ok=True)
    session = duckdb.connect(str(session_path))
    read = 0
    try:
        session.execute("set TimeZone = 'UTC'")
        dbt_pseudonym.register(session, secret=pseudonym.key())
        if config.destination() == "spark":  # the Thrift server, tables handed over as Parquet (orchestration.spark)
            from orchestration import spark

            pg = spark.connect()
            engine_cursor = pg.cursor()
            reader = lambda schema, table, local: spark.read_into_duckdb(engine_cursor, session, schema, table, local)  # noqa: E731
            writer = lambda result, name: spark.write_from_duckdb(engine_cursor, session, result, SCHEMA, name)  # noqa: E731
        else:
            pg = _pg_connect(pg_url)
            reader = lambda schema, table, local: _read_into_duckdb(pg, session, schema, table, local)  # noqa: E731
            writer = lambda result, name: _write_to_pg(pg, session, result, name)  # noqa: E731
        try:
            tables = {}
            for ref in python_node["refs"]:
                parent = by_name[ref["name"]]
                tables[ref["name"]] = ref["name"]
                read += reader(parent["schema"], parent["alias"] or parent["name"], ref["name"])
            spec = importlib.util.spec_from_file_location(f"_python_model_{name}", DBT_PROJECT_DIR / python_node["original_file_path"])
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            result = module.model(_Dbt(session, _Config(dict(stand_in["config"])), tables), session)
            if isinstance(result, duckdb.DuckDBPyRelation):
                result.create("_result")
            else:  # a pandas (or Arrow) frame: materialized as dbt-duckdb does, by DuckDB from the frame
                session.register("_frame", result)
                session.execute("create table _result as select * from _frame")
                session.unregister("_frame")
            written = writer("_result", name)
        finally:
            pg.close()
    finally:
        session.close()
        session_path.unlink(missing_ok=True)
        session_path.with_name(session_path.name + ".wal").unlink(missing_ok=True)
    return {"model": name, "rows_read": read, "rows_written": written, "seconds": round(time.monotonic() - started, 2)}


def _ancestors(manifest: dict, unique_id: str) -> set[str]:
    parents, seen, todo = manifest["parent_map"], set(), [unique_id]
    while todo:
        for parent in parents.get(todo.pop(), []):
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def waves(manifest: dict) -> list[tuple[set[str], list[str]]]:
    """(nodes dbt builds first, stand-ins whose Python models then run) per wave: a wave's Python models have no
    Python model upstream that has not run in an earlier wave. dbt builds a wave's SQL ancestors (stand-ins of
    earlier waves among them); nothing when they are all built, or are stand-ins read from python_models directly."""
    stand_ins = {uid for uid, n in manifest["nodes"].items() if TAG in n.get("tags", [])}
    ancestors = {s: {a for a in _ancestors(manifest, s) if a.split(".")[0] in ("model", "seed")} for s in stand_ins}
    done: set[str] = set()
    built: set[str] = set()
    result = []
    while len(done) < len(stand_ins):
        wave = sorted(s for s in stand_ins - done if not (ancestors[s] & stand_ins) - done)
        if not wave:
            raise RuntimeError("Python models depend on each other in a cycle")
        need = set().union(*(ancestors[s] for s in wave)) - built
        direct = {p for s in wave for p in manifest["parent_map"].get(s, []) if p in stand_ins}
        if not need - direct:  # only stand-ins the Python models read: they read python_models.<name> instead
            need = set()
        result.append((need, wave))
        built |= need
        done |= set(wave)
    return result


def build(dbt: Callable[[list[str]], Any], manifest_path: Callable[[], Path], log: Callable[[str], None] = print,
          pg_url: str | None = None, tests: bool = True) -> dict:  # fmt: skip
    """The whole project on an engine without dbt Python models. ``dbt(args)`` runs dbt and returns its
    CompletedProcess; ``manifest_path()`` the manifest of the last invocation. Seeds, then per wave (:func:`waves`)
    its SQL models and its Python models, then the rest of the project (``dbt run``), then (``tests``) the data
    tests. Returns what ran."""
    summary: dict[str, Any] = {"stages": [], "python_models": []}
    seeded = dbt(["seed"])  # also writes the manifest
    summary["stages"].append({"select": "seeds", "returncode": seeded.returncode})
    manifest = json.loads(manifest_path().read_text())
    names = lambda ids: [manifest["nodes"][i]["name"] for i in sorted(ids)]  # noqa: E731
    built: set[str] = set()
    for need, wave in waves(manifest):
        todo = [n for n in names(need - {i for i in need if i.startswith("seed.")})]
        if todo:
            done = dbt(["run", "--select", *todo])
            summary["stages"].append({"select": len(todo), "returncode": done.returncode})
        for stand_in in wave:
            python_name = manifest["nodes"][stand_in]["name"]
            try:
                info = run_python_model(manifest, python_name, pg_url)
            except Exception as error:  # a parent failed to build: the stand-in and what follows fail in dbt
                info = {"model": python_name, "error": f"{type(error).__name__}: {error}"[:300]}
            log(f"python model {python_name}: {info}")
            summary["python_models"].append(info)
        built |= need
    rest = dbt(["run", "--exclude", *names(built)] if built else ["run"])
    summary["stages"].append({"select": "rest", "returncode": rest.returncode})
    if tests:
        tested = dbt(["test", "--exclude-resource-type", "unit_test"])
        summary["tests_returncode"] = tested.returncode
    return summary
