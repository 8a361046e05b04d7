"""The Spark Thrift server of dbt's spark target (orchestration/spark.py).

The first tests need neither Java nor pyspark. The last one starts the real server (pyspark from the optional extra
`spark`, Java 17) and is skipped where either is missing: `make test-spark` installs the extra and compares every
mart with DuckDB's (journey compare spark).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import importlib.util
import os
import shutil

import pytest

from ingestion import pseudonym
from orchestration import spark


@pytest.mark.parametrize("key", [b"k" * 64, b"short key of 32 characters....!!", b"x" * 100])
def test_hmac_pads_give_the_keyed_hash(key):
    # what spark__keyed_hash computes in SQL: sha2(opad || sha2(ipad || m)), the pads handed to the server
    ipad, opad = spark.hmac_pads(key)
    for value in ["anna@example.org", "+4915112345678", "müller", ""]:
        inner = hashlib.sha256(bytes.fromhex(ipad) + value.encode("utf-8")).digest()
        outer = hashlib.sha256(bytes.fromhex(opad) + inner).hexdigest()
        assert outer == pseudonym.keyed_hash(value, key) == hmac.new(key, value.encode(), "sha256").hexdigest()
    assert spark.hmac_pads(key) != spark.hmac_pads(key + b"!")


def test_lake_tables_are_dlt_parquet_folders(tmp_path):
    for path in ["shop/customers/1.a.parquet", "shop/orders__lines/1.b.parquet", "shop/_dlt_loads/1.c.parquet",
                 "shop/empty/.keep", "esp/events/2.d.parquet", "_dlt_x/t/1.parquet"]:  # fmt: skip
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(b"")
    (tmp_path / "shop" / "init").write_text("")
    assert spark.lake_tables(tmp_path) == {"esp": ["events"], "shop": ["customers", "orders__lines"]}
    assert spark.lake_tables(tmp_path / "missing") == {}


def test_server_is_local_and_small(tmp_path, monkeypatch):
    monkeypatch.setenv("JW_DATA_DIR", str(tmp_path))
    if importlib.util.find_spec("pyspark") is None:
        monkeypatch.setattr(spark, "spark_home", lambda: tmp_path / "pyspark")
    args = " ".join(spark.command())
    assert "--master local[2]" in args and "--driver-memory 2g" in args
    assert "hive.server2.thrift.bind.host=127.0.0.1" in args and "hive.server2.thrift.port=10000" in args
    assert f"databaseName={tmp_path / 'spark' / 'metastore_db'}" in args
    assert "spark.sql.session.timeZone=UTC" in args
    assert pseudonym.KEY_ENV not in args and "pad" not in args.lower()  # the key reaches it by environment only
    assert spark.pid_file() == tmp_path / "spark" / "thriftserver.pid"


needs_spark = pytest.mark.skipif(
    importlib.util.find_spec("pyspark") is None or shutil.which("java") is None and not os.environ.get("JAVA_HOME"),
    reason="needs pyspark (pip install -e '.[spark]') and Java 17",
)


@needs_spark
def test_thrift_server_round_trip(tmp_path, monkeypatch):
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    if spark.port_open():
        pytest.skip("127.0.0.1:10000 is taken (a Spark server of another data directory)")
    key = "0123456789abcdef" * 4
    monkeypatch.setenv("JW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv(pseudonym.KEY_ENV, key)
    lake = tmp_path / "lake"
    (lake / "shop" / "customers").mkdir(parents=True)
    pq.write_table(
        pa.table({"id": [1, 2], "email": ["a@b.de", None],
                  "created_at": pa.array([dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)] * 2, pa.timestamp("us", tz="UTC"))}),
        lake / "shop" / "customers" / "1.x.parquet",
    )  # fmt: skip
    pid, seconds = spark.start()
    try:
        assert spark.status().accepting and spark.status().pid == pid
        assert spark.start()[0] == pid  # already running: the same server
        assert spark.register(lake) == {"shop": ["customers"]}
        conn = spark.connect()
        cur = conn.cursor()
        # the keyed hash in SQL, pads substituted by the server from its environment
        cur.execute(
            "select email, sha2(concat(unhex('${env:JW_PSEUDONYM_OPAD}'), unhex(sha2(concat(unhex('${env:JW_PSEUDONYM_IPAD}'), "
            "encode(email, 'UTF-8')), 256))), 256), created_at from shop.customers order by id"
        )
        rows = cur.fetchall()
        assert rows[0][1] == pseudonym.keyed_hash("a@b.de", key.encode()) and rows[1][1] is None
        assert rows[0][2] == dt.datetime(2026, 1, 2, 3, 4, 5)  # UTC session
        # a table to DuckDB and back, types kept (what the Python models and the comparison rely on)
        session = duckdb.connect()
        session.execute("set TimeZone = 'UTC'")
        assert spark.read_into_duckdb(cur, session, "shop", "customers", "c") == 2
        assert dict(session.execute("select column_name, column_type from (describe c)").fetchall())["created_at"] == "TIMESTAMP WITH TIME ZONE"
        session.execute("create table r as select id * 10 as id, [email, 'x'] as tags, created_at from c")
        assert spark.write_from_duckdb(cur, session, "r", "python_models", "r") == 2
        cur.execute("select id, tags, created_at from python_models.r order by id")
        back = cur.fetchall()
        assert [row[0] for row in back] == [10, 20] and back[0][2] == dt.datetime(2026, 1, 2, 3, 4, 5)
        conn.close()
    finally:
        assert spark.stop()
    assert not spark.status().accepting and spark.running_pid() is None


def test_extra_rows_are_known_on_spark_only_when_every_duckdb_row_is_there():
    """Spark keeps deleted shop customers (dlt's Parquet cannot delete): the marts listed for it may hold extra rows,
    never miss or change one of DuckDB's; and a mart not listed may not differ at all."""
    from orchestration import compare

    ref = {"columns": ["person_id", "orders"], "rows": [("p1", 1), ("p2", 2)]}
    extra = {"columns": ["orders", "person_id"], "rows": [(1, "p1"), (2, "p2"), (0, "p3")]}
    changed = {"columns": ["orders", "person_id"], "rows": [(1, "p1"), (3, "p2"), (0, "p3")]}
    known = compare.compare_tables({"marts.customer_360": ref}, {"marts.customer_360": extra}, "spark")[0]
    assert known["match"] == "no" and known["known"] == compare.DELETES_ON_PARQUET
    assert "known" not in compare.compare_tables({"marts.customer_360": ref}, {"marts.customer_360": changed}, "spark")[0]
    assert "known" not in compare.compare_tables({"marts.kpi_daily": ref}, {"marts.kpi_daily": extra}, "spark")[0]
    assert "known" not in compare.compare_tables({"marts.customer_360": ref}, {"marts.customer_360": extra}, "postgres")[0]
