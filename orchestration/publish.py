"""``journey publish postgres --url URL``: serve the marts (and the ``pii`` schema) from PostgreSQL, with roles.

What it does, in ONE transaction on the PostgreSQL side (BI readers see the old copy until the commit, then the new):

1. each schema of ``PUBLISHED_SCHEMAS`` present in the DuckDB warehouse is copied, every table and view as a table,
   with its column types mapped to PostgreSQL's (``timestamptz`` stays ``timestamptz``, ``decimal(p, s)`` stays
   ``numeric(p, s)``, lists/structs/maps become ``jsonb``), into a fresh schema that then replaces the old one;
   rows travel as Arrow record batches (DuckDB -> CSV in memory -> ``COPY FROM STDIN``): nothing is written to disk,
   no DuckDB extension is needed (the ``postgres`` extension cannot be downloaded everywhere);
2. the role ``bi_reader`` (LOGIN) is created, or updated, with the password in ``$JW_BI_READER_PASSWORD``: sent
   as a SCRAM-SHA-256 verifier computed here, so the clear password never reaches the server (nor its statement
   log); without the variable an existing role keeps its password, and a missing one is an error;
3. grants: ``bi_reader`` gets USAGE on ``marts`` and SELECT on its tables, nothing else; ``pii`` is revoked from
   PUBLIC and from ``bi_reader`` (schema and tables), and so is CREATE on ``marts``.

Re-publishing is idempotent: same tables, same rows, same grants. The connecting user needs to create schemas and
roles (a superuser or a role with CREATEROLE that owns the schemas). The URL's password is never printed.
"""

from __future__ import annotations

import io
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

PUBLISHED_SCHEMAS = ("marts", "pii")
READER_ROLE = "bi_reader"
READER_PASSWORD_ENV = "JW_BI_READER_PASSWORD"
BATCH_ROWS = 100_000

# DuckDB type -> PostgreSQL type, for the types that are not spelled the same.
_SIMPLE_TYPES = {
    "VARCHAR": "text",
    "BOOLEAN": "boolean",
    "TINYINT": "smallint",
    "SMALLINT": "smallint",
    "INTEGER": "integer",
    "BIGINT": "bigint",
    "HUGEINT": "numeric(39, 0)",
    "UTINYINT": "smallint",
    "USMALLINT": "integer",
    "UINTEGER": "bigint",
    "UBIGINT": "numeric(20, 0)",
    "UHUGEINT": "numeric(39, 0)",
    "FLOAT": "real",
    "DOUBLE": "double precision",
    "DATE": "date",
    "TIME": "time",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP_NS": "timestamp",
    "TIMESTAMP_MS": "timestamp",
    "TIMESTAMP_S": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "INTERVAL": "interval",
    "UUID": "uuid",
    "BLOB": "bytea",
    "JSON": "jsonb",
}


class PublishError(RuntimeError):
    """The publish cannot be done as asked (missing password, no warehouse, ...)."""


@dataclass
class PublishReport:
    tables: dict[str, int] = field(default_factory=dict)  # "<schema>.<table>" -> rows
    missing_schemas: list[str] = field(default_factory=list)
    role_created: bool = False
    password_set: bool = False
    seconds: float = 0.0


def postgres_type(duckdb_type: str) -> tuple[str, str]:
    """``(PostgreSQL type, how to select the column in DuckDB)`` of a DuckDB column type; the select template has
    ``{c}`` for the quoted column (complex values go over as JSON text, blobs as hex, the rest as they are)."""
    t = duckdb_type.upper()
    if t in _SIMPLE_TYPES:
        pg = _SIMPLE_TYPES[t]
        if t == "BLOB":
            return pg, "'\\x' || hex({c})"
        if t in ("INTERVAL", "UUID", "JSON", "TIME"):
            return pg, "cast({c} as varchar)"
        if t.startswith("TIMESTAMP") and t != "TIMESTAMP WITH TIME ZONE":
            return pg, "cast({c} as timestamp)"
        if t.startswith(("U", "HUGEINT")):
            return pg, "cast({c} as varchar)"
        return pg, "{c}"
    if match := re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", t):
        return f"numeric({match[1]}, {match[2]})", "{c}"
    if t.startswith("ENUM"):
        return "text", "cast({c} as varchar)"
    if t.endswith("]") or t.startswith(("STRUCT", "MAP", "UNION")):
        return "jsonb", "cast(to_json({c}) as varchar)"
    return "text", "cast({c} as varchar)"  # anything else: its text form rather than a failed publish


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def psycopg2_dsn(url: str) -> str:
    """A libpq connection string from a SQLAlchemy-style or libpq URL (``postgresql+psycopg2://`` -> ``postgresql://``)."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)


def _url_password(url: str) -> str | None:
    """The password in ``[scheme://]user:password@host...`` (the last ``@`` ends it: passwords may hold one)."""
    rest = url.split("://", 1)[1] if "://" in url else url
    userinfo, at, _ = rest.rpartition("@")
    return userinfo.partition(":")[2] or None if at else None


def safe_url(url: str) -> str:
    """The URL with its password masked, for messages."""
    password = _url_password(url)
    return url.replace(f":{password}@", ":***@", 1) if password else url


def _redact(text: str, url: str) -> str:
    """``text`` without the URL's password (libpq quotes a connection string it cannot parse, password and all)."""
    password = _url_password(url)
    if not password:
        return text
    text = text.replace(url, safe_url(url)).replace(f":{password}@", ":***@")
    return text.replace(password, "***") if len(password) >= 4 else text


def _duckdb_tables(con, schema: str) -> list[tuple[str, list[tuple[str, str]]]]:
    tables = con.execute(
        "select table_name from information_schema.tables where table_schema = ? order by table_name", [schema]
    ).fetchall()
    out = []
    for (table,) in tables:
        columns = con.execute(
            "select column_name, data_type from information_schema.columns"
            " where table_schema = ? and table_name = ? order by ordinal_position",
            [schema, table],
        ).fetchall()
        out.append((table, columns))
    return out


def _copy_table(duck, cursor, schema: str, table: str, columns: list[tuple[str, str]], target_schema: str) -> int:
    import pyarrow.csv as pacsv

    mapped = [(name, *postgres_type(dtype)) for name, dtype in columns]
    cursor.execute(
        f"create table {_quote(target_schema)}.{_quote(table)} ("
        + ", ".join(f"{_quote(name)} {pg}" for name, pg, _ in mapped)
        + ")"
    )
    selects = ", ".join(f"{expr.format(c=_quote(name))} as {_quote(name)}" for name, _, expr in mapped)
    reader = duck.sql(f"select {selects} from {_quote(schema)}.{_quote(table)}").to_arrow_reader(BATCH_ROWS)
    copy = (
        f"copy {_quote(target_schema)}.{_quote(table)} ({', '.join(_quote(n) for n, _, _ in mapped)})"
        " from stdin with (format csv, header false)"
    )
    rows = 0
    options = pacsv.WriteOptions(include_header=False)
    for batch in reader:
        if batch.num_rows == 0:
            continue
        buffer = io.BytesIO()
        pacsv.write_csv(batch, buffer, write_options=options)  # null -> empty field, "" -> quoted empty: COPY tells them apart
        buffer.seek(0)
        cursor.copy_expert(copy, buffer)
        rows += batch.num_rows
    return rows


def _ensure_reader_role(connection, cursor, password: str | None) -> tuple[bool, bool]:
    cursor.execute("select 1 from pg_roles where rolname = %s", [READER_ROLE])
    exists = cursor.fetchone() is not None
    if not exists and not password:
        raise PublishError(f"set {READER_PASSWORD_ENV}: the role {READER_ROLE} does not exist yet and needs a password")
    from psycopg2.extensions import encrypt_password

    verifier = encrypt_password(password, READER_ROLE, connection, "scram-sha-256") if password else None
    role = _quote(READER_ROLE)
    attributes = "login nosuperuser nocreatedb nocreaterole noinherit"
    if not exists:
        cursor.execute(f"create role {role} with {attributes} password %s", [verifier])
    elif verifier:
        cursor.execute(f"alter role {role} with {attributes} password %s", [verifier])
    else:
        cursor.execute(f"alter role {role} with {attributes}")
    return not exists, verifier is not None


def _grant(cursor, present: list[str]) -> None:
    role = _quote(READER_ROLE)
    if "marts" in present:
        cursor.execute(f"revoke all on schema marts from public, {role}")
        cursor.execute("revoke all on all tables in schema marts from public")
        cursor.execute(f"grant usage on schema marts to {role}")
        cursor.execute(f"grant select on all tables in schema marts to {role}")
    if "pii" in present:
        cursor.execute(f"revoke all on schema pii from public, {role}")
        cursor.execute(f"revoke all on all tables in schema pii from public, {role}")
        cursor.execute(f"revoke all on all sequences in schema pii from public, {role}")
        cursor.execute(f"revoke all on all functions in schema pii from public, {role}")


def publish_postgres(url: str, warehouse: Path | None = None, *, password: str | None = None, echo=None) -> PublishReport:
    """Copy ``marts`` and ``pii`` from the warehouse to the PostgreSQL database at ``url`` and set up ``bi_reader``.

    ``password``: the reader's password (default ``$JW_BI_READER_PASSWORD``)."""
    import duckdb
    import psycopg2

    from ingestion import config

    started = time.monotonic()
    warehouse = Path(warehouse or config.warehouse_path())
    if not warehouse.exists():
        raise PublishError(f"no warehouse at {warehouse}: run `journey run` first")
    password = password if password is not None else (os.environ.get(READER_PASSWORD_ENV) or None)
    report = PublishReport()
    say = echo or (lambda message: None)
    try:
        connection = psycopg2.connect(psycopg2_dsn(url))
    except psycopg2.Error as error:
        # libpq names host, port and user; a string it cannot parse it quotes whole: the password is masked
        raise PublishError(f"cannot connect to {safe_url(url)}: {_redact(str(error).strip(), url)}") from None
    try:
        with duckdb.connect(str(warehouse), read_only=True) as duck, connection, connection.cursor() as cursor:
            schemas = {s for (s,) in duck.execute("select distinct schema_name from information_schema.schemata").fetchall()}
            present = [s for s in PUBLISHED_SCHEMAS if s in schemas]
            report.missing_schemas = [s for s in PUBLISHED_SCHEMAS if s not in schemas]
            if "marts" not in present:
                raise PublishError(f"no schema marts in {warehouse}: run `journey run` first")
            report.role_created, report.password_set = _ensure_reader_role(connection, cursor, password)
            for schema in present:
                staging = f"_jw_publish_{schema}"
                cursor.execute(f"drop schema if exists {_quote(staging)} cascade")
                cursor.execute(f"create schema {_quote(staging)}")
                for table, columns in _duckdb_tables(duck, schema):
                    rows = _copy_table(duck, cursor, schema, table, columns, staging)
                    report.tables[f"{schema}.{table}"] = rows
                    say(f"  {schema}.{table}: {rows:,} rows")
                cursor.execute(f"drop schema if exists {_quote(schema)} cascade")
                cursor.execute(f"alter schema {_quote(staging)} rename to {_quote(schema)}")
            _grant(cursor, present)
    finally:
        connection.close()
    report.seconds = time.monotonic() - started
    return report
