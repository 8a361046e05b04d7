"""``journey publish postgres``: marts and pii copied typed to a real PostgreSQL (127.0.0.1:5432, a database of the
test's own), and the role ``bi_reader`` reads marts and is refused on pii.

The local server trusts every connection from 127.0.0.1 (pg_hba: ``host all all 127.0.0.1/32 trust``), so a login
there proves nothing about the password: the test checks the grants (what the role may do, whoever logs in as it)
and, separately, that the SCRAM verifier stored for the role is the one of $JW_BI_READER_PASSWORD (and not of
another password), the check the server makes where pg_hba says ``scram-sha-256``.
"""

import base64
import hashlib
import hmac
import os
import uuid
from decimal import Decimal

import duckdb
import psycopg2
import psycopg2.errors
import pytest
from click.testing import CliRunner

from orchestration.cli import cli

from .conftest import copy_warehouse

ADMIN = os.environ.get("JW_TEST_POSTGRES_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
PASSWORD = "bi-reader-" + uuid.uuid4().hex[:12]


def _admin():
    connection = psycopg2.connect(ADMIN)
    connection.autocommit = True
    return connection


@pytest.fixture()
def database():
    """A fresh database (and bi_reader dropped afterwards if the test created it)."""
    name = f"jw_publish_{uuid.uuid4().hex[:8]}"
    try:
        admin = _admin()
    except psycopg2.OperationalError as error:
        pytest.fail(f"PostgreSQL is not reachable at {ADMIN}: {error}")
    with admin.cursor() as cursor:
        cursor.execute("select 1 from pg_roles where rolname = 'bi_reader'")
        role_existed = cursor.fetchone() is not None
        cursor.execute(f"create database {name}")
    yield name
    with admin.cursor() as cursor:
        cursor.execute(f"drop database if exists {name} with (force)")
        if not role_existed:
            cursor.execute("drop role if exists bi_reader")
    admin.close()


@pytest.fixture()
def warehouse(small_build, tmp_path):
    """The small world's built warehouse, with a stand-in pii.person_contacts if P2's is not there yet."""
    path = copy_warehouse(small_build.built, tmp_path / "data")
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists pii")
        exists = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'pii' and table_name = 'person_contacts'"
        ).fetchone()[0]
        if not exists:
            con.execute(
                "create table pii.person_contacts as select person_id, 'someone' || row_number() over () || '@example.com'"
                " as email, 'Name' as first_name from marts.customer_360"
            )
    return path


def _scram_matches(verifier: str, password: str) -> bool:
    """Does the stored SCRAM-SHA-256 verifier belong to ``password`` (RFC 5802/7677)?"""
    method, rest = verifier.split("$", 1)
    assert method == "SCRAM-SHA-256"
    iterations_salt, keys = rest.split("$")
    iterations, salt = iterations_salt.split(":")
    stored_key = base64.b64decode(keys.split(":")[0])
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return hashlib.sha256(client_key).digest() == stored_key


def _publish(database, warehouse, monkeypatch, password=PASSWORD):
    monkeypatch.setenv("JW_WAREHOUSE_PATH", str(warehouse))
    if password is None:
        monkeypatch.delenv("JW_BI_READER_PASSWORD", raising=False)
    else:
        monkeypatch.setenv("JW_BI_READER_PASSWORD", password)
    url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{database}"
    result = CliRunner().invoke(cli, ["publish", "postgres", "--url", url])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert password is None or password not in result.output
    return result.output


def _grants(database) -> list[tuple]:
    with psycopg2.connect(f"postgresql://postgres@127.0.0.1:5432/{database}") as connection, connection.cursor() as cursor:
        cursor.execute(
            "select nspname, '', nspacl::text from pg_namespace where nspname in ('marts', 'pii')"
            " union all select n.nspname, c.relname, c.relacl::text from pg_class c join pg_namespace n on c.relnamespace = n.oid"
            " where n.nspname in ('marts', 'pii') and c.relkind = 'r' order by 1, 2"
        )
        return cursor.fetchall()


def _duck_rows(warehouse, sql):
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def _normal(value):
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, Decimal):
        return float(value)
    return value


def test_publish_copies_marts_typed_and_bi_reader_reads_marts_only(database, warehouse, monkeypatch):
    output = _publish(database, warehouse, monkeypatch)
    assert "role bi_reader created" in output or "role bi_reader updated" in output
    admin_url = f"postgresql://postgres@127.0.0.1:5432/{database}"
    duck_tables = _duck_rows(
        warehouse, "select table_schema, table_name from information_schema.tables where table_schema in ('marts', 'pii')"
    )
    assert ("marts", "customer_360") in duck_tables and ("pii", "person_contacts") in duck_tables
    with psycopg2.connect(admin_url) as connection, connection.cursor() as cursor:
        # every table and view of both schemas, every row
        for schema, table in duck_tables:
            cursor.execute(f'select count(*) from "{schema}"."{table}"')
            assert cursor.fetchone()[0] == _duck_rows(warehouse, f'select count(*) from "{schema}"."{table}"')[0][0], table
        # types: timestamptz stays timestamptz, decimals keep precision and scale, booleans stay booleans
        cursor.execute(
            "select column_name, data_type, numeric_precision, numeric_scale from information_schema.columns"
            " where table_schema = 'marts' and table_name = 'customer_360' order by ordinal_position"
        )
        pg_columns = cursor.fetchall()
        duck_columns = _duck_rows(
            warehouse,
            "select column_name, data_type from information_schema.columns"
            " where table_schema = 'marts' and table_name = 'customer_360' order by ordinal_position",
        )
        assert [c[0] for c in pg_columns] == [c[0] for c in duck_columns]
        expected = {"VARCHAR": "text", "BOOLEAN": "boolean", "BIGINT": "bigint", "INTEGER": "integer",
                    "DOUBLE": "double precision", "DATE": "date", "TIMESTAMP WITH TIME ZONE": "timestamp with time zone"}  # fmt: skip
        for (name, pg_type, precision, scale), (_, duck_type) in zip(pg_columns, duck_columns):
            if duck_type.startswith("DECIMAL"):
                assert (pg_type, f"DECIMAL({precision},{scale})") == ("numeric", duck_type), name
            elif duck_type in expected:
                assert pg_type == expected[duck_type], name
        assert "timestamp with time zone" in {c[1] for c in pg_columns}
        # customer_360 row for row
        columns = ", ".join(f'"{c[0]}"' for c in duck_columns)
        cursor.execute(f"select {columns} from marts.customer_360 order by person_id")
        published = [tuple(map(_normal, row)) for row in cursor.fetchall()]
    original = [tuple(map(_normal, row)) for row in _duck_rows(warehouse, f"select {columns} from marts.customer_360 order by person_id")]
    assert published == original

    # the role: LOGIN, no other power, and its stored password is the one of $JW_BI_READER_PASSWORD
    admin = _admin()
    with admin.cursor() as cursor:
        cursor.execute(
            "select rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolpassword from pg_authid where rolname = 'bi_reader'"
        )
        login, superuser, createrole, createdb, verifier = cursor.fetchone()
        cursor.execute("select auth_method from pg_hba_file_rules where type = 'host' and '127.0.0.1' = any(array[address])")
        hba = [m for (m,) in cursor.fetchall()]
    admin.close()
    assert (login, superuser, createrole, createdb) == (True, False, False, False)
    assert verifier.startswith("SCRAM-SHA-256$") and PASSWORD not in verifier
    assert _scram_matches(verifier, PASSWORD) and not _scram_matches(verifier, PASSWORD + "x")
    print(f"pg_hba for 127.0.0.1: {hba} (trust lets any role in without a password: the grants are what is tested)")

    # connect AS bi_reader (with its password): marts readable, pii refused, nothing created
    reader = psycopg2.connect(host="127.0.0.1", port=5432, dbname=database, user="bi_reader", password=PASSWORD)
    reader.autocommit = True
    with reader.cursor() as cursor:
        cursor.execute("select current_user, count(*) from marts.customer_360")
        assert cursor.fetchone() == ("bi_reader", len(original))
        for statement in (
            "select * from pii.person_contacts limit 1",
            "select count(*) from pii.person_contacts",
            "create table marts.mine (x int)",
            "delete from marts.customer_360",
            "set role postgres",
        ):
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cursor.execute(statement)
        cursor.execute(
            "select has_schema_privilege('pii', 'usage'), has_schema_privilege('marts', 'create')"
        )
        assert cursor.fetchone() == (False, False)
    reader.close()

    # PUBLIC has nothing on pii either (a role created tomorrow gets nothing by default)
    with psycopg2.connect(admin_url) as connection, connection.cursor() as cursor:
        cursor.execute("create role jw_nobody_probe nologin")
        try:
            cursor.execute(
                "select has_schema_privilege('jw_nobody_probe', 'pii', 'usage'),"
                " has_table_privilege('jw_nobody_probe', 'pii.person_contacts', 'select'),"
                " has_schema_privilege('jw_nobody_probe', 'marts', 'usage'),"
                " has_table_privilege('bi_reader', 'pii.person_contacts', 'select')"
            )
            assert cursor.fetchone() == (False, False, False, False)
        finally:
            cursor.execute("drop role jw_nobody_probe")

    # re-publishing changes nothing: same tables, rows and grants; without the variable the password stays
    grants = _grants(database)
    assert any(schema == "marts" and table == "" and "bi_reader=U/" in acl for schema, table, acl in grants)
    assert all("bi_reader" not in (acl or "") for schema, _, acl in grants if schema == "pii")
    _publish(database, warehouse, monkeypatch, password=None)
    assert _grants(database) == grants
    with psycopg2.connect(admin_url) as connection, connection.cursor() as cursor:
        cursor.execute("select count(*) from marts.customer_360")
        assert cursor.fetchone()[0] == len(original)
        cursor.execute("select count(*) from pg_namespace where nspname like '\\_jw\\_publish\\_%'")
        assert cursor.fetchone()[0] == 0
    admin = _admin()
    with admin.cursor() as cursor:
        cursor.execute("select rolpassword from pg_authid where rolname = 'bi_reader'")
        assert cursor.fetchone()[0] == verifier
    admin.close()


def test_publish_without_password_for_a_new_role_is_a_clear_error(database, warehouse, monkeypatch):
    admin = _admin()
    with admin.cursor() as cursor:
        cursor.execute("select 1 from pg_roles where rolname = 'bi_reader'")
        if cursor.fetchone():
            pytest.skip("bi_reader exists on this server already")
    admin.close()
    monkeypatch.setenv("JW_WAREHOUSE_PATH", str(warehouse))
    monkeypatch.delenv("JW_BI_READER_PASSWORD", raising=False)
    url = f"postgresql://postgres:not-shown-secret@127.0.0.1:5432/{database}"
    result = CliRunner().invoke(cli, ["publish", "postgres", "--url", url])
    assert result.exit_code == 1
    assert "JW_BI_READER_PASSWORD" in result.output and "not-shown-secret" not in result.output


@pytest.mark.parametrize("url", [
    "postgresql://postgres:pw-canary-1@127.0.0.1:5432/jw_no_such_database_here",
    "postgres:pw-canary-1@127.0.0.1/nodb",  # not a URL: libpq quotes it in its error
])  # fmt: skip
def test_publish_errors_never_show_the_url_password(url, small_build, monkeypatch):
    monkeypatch.setenv("JW_WAREHOUSE_PATH", str(small_build.built))
    result = CliRunner().invoke(cli, ["publish", "postgres", "--url", url])
    assert result.exit_code == 1 and "cannot connect" in result.output
    assert "pw-canary-1" not in result.output


def test_forget_publishes_the_serving_copy_again_without_the_person(database, warehouse, monkeypatch):
    """`journey forget` with JW_PUBLISH_POSTGRES_URL set: the PostgreSQL copy no longer holds the person."""
    from orchestration.forget import forget

    _publish(database, warehouse, monkeypatch)
    monkeypatch.setenv("JW_DATA_DIR", str(warehouse.parent))
    monkeypatch.setenv("DAGSTER_HOME", str(warehouse.parent / "dagster_home"))
    person, email = _duck_rows(warehouse, "select person_id, email from pii.person_contacts where email is not null "
                                          "order by person_id limit 1")[0]  # fmt: skip
    url = f"postgresql://postgres@127.0.0.1:5432/{database}"

    def served(sql: str) -> int:
        with psycopg2.connect(url) as connection, connection.cursor() as cursor:
            cursor.execute(sql, (person,))
            return cursor.fetchone()[0]

    before = (served("select count(*) from pii.person_contacts where person_id = %s"),
              served("select count(*) from marts.customer_360 where person_id = %s"))  # fmt: skip
    assert before == (1, 1)
    monkeypatch.setenv("JW_PUBLISH_POSTGRES_URL", url)
    result = forget(email=email, requested_by="test")
    assert result.republished and result.residue == []
    assert served("select count(*) from pii.person_contacts where person_id = %s") == 0
    assert served("select count(*) from marts.customer_360 where person_id = %s") == 0
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("select count(*) from pii.person_contacts where lower(email) = lower(%s)", (email,))
        assert cursor.fetchone()[0] == 0
        cursor.execute("select count(*) from marts.customer_360")
        assert cursor.fetchone()[0] == _duck_rows(warehouse, "select count(*) from marts.customer_360")[0][0]
