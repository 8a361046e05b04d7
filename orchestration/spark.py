"""The Spark Thrift server of dbt's ``spark`` target: ``journey spark start|stop|status|register``.

Spark comes from the ``pyspark`` wheel (the optional extra ``spark``: its ``jars/`` hold the Hive Thrift server, the
Hive metastore client and Derby), Java from the machine (Debian's ``openjdk-17-jre-headless``; ``JAVA_HOME`` or the
``java`` on the PATH). The server runs ``local[2]`` with a 2 GB driver, bound to 127.0.0.1:10000, everything under
``$JW_DATA_DIR/spark``: the warehouse directory (managed tables), the Derby metastore, its log and its pid file.

Spark reads what dlt wrote: with ``JW_DESTINATION=spark`` dlt's ``filesystem`` destination writes Parquet to
``$JW_LAKE_DIR/<dataset>/<table>/`` (dataset = source name = the dbt source's schema). ``register`` creates one
external table per such folder (``<dataset>.<table> USING parquet LOCATION ...``), so dbt's ``source()``s resolve.

The pseudonym key never enters SQL: the server gets HMAC's inner and outer padded keys in its environment
(``JW_PSEUDONYM_IPAD``/``JW_PSEUDONYM_OPAD``, hex), and ``spark__keyed_hash`` (dbt_project/macros/portability/
spark.sql) refers to them as ``${env:...}``, substituted by the server; neither compiled SQL nor logs carry them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
PORT = 10000
MASTER = "local[2]"
DRIVER_MEMORY = "2g"
START_TIMEOUT_S = 240.0
THRIFT_SERVER_CLASS = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"
IPAD_ENV, OPAD_ENV = "JW_PSEUDONYM_IPAD", "JW_PSEUDONYM_OPAD"
HMAC_BLOCK = 64  # bytes, SHA-256's block


def spark_dir() -> Path:
    """``$JW_DATA_DIR/spark``: warehouse directory, Derby metastore, log and pid file of the server."""
    from ingestion import config

    return Path(config.data_dir()) / "spark"


def lake_dir() -> Path:
    """Where dlt's filesystem destination writes Parquet (``ingestion.config.lake_dir``: ``$JW_LAKE_DIR``, else
    ``$JW_DATA_DIR/lake``)."""
    from ingestion import config

    return config.lake_dir()


def pid_file() -> Path:
    return spark_dir() / "thriftserver.pid"


def log_file() -> Path:
    return spark_dir() / "thriftserver.log"


def spark_home() -> Path:
    """The Spark distribution inside the pyspark wheel."""
    try:
        import pyspark
    except ImportError as exc:  # the optional extra is not installed
        raise RuntimeError('pyspark is missing: pip install -e ".[spark]" (make test-spark does)') from exc
    return Path(pyspark.__file__).resolve().parent


def java_home() -> str | None:
    """``JAVA_HOME``, else the JDK/JRE of the ``java`` on the PATH; None when there is no Java."""
    if os.environ.get("JAVA_HOME"):
        return os.environ["JAVA_HOME"]
    java = shutil.which("java")
    if not java:
        return None
    return str(Path(java).resolve().parent.parent)


def java_available() -> bool:
    return java_home() is not None


def hmac_pads(key: bytes) -> tuple[str, str]:
    """HMAC-SHA-256's inner and outer padded keys (RFC 2104), hex: the SQL computes sha2(opad || sha2(ipad || m))."""
    if len(key) > HMAC_BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(HMAC_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key).hex(), bytes(b ^ 0x5C for b in key).hex()


def port_open(host: str = HOST, port: int = PORT, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (our own child not yet reaped) is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def running_pid() -> int | None:
    """The server's pid from the pid file when that process is alive."""
    try:
        pid = int(pid_file().read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


@dataclass
class Status:
    pid: int | None
    accepting: bool
    host: str = HOST
    port: int = PORT

    def __str__(self) -> str:
        if self.pid is None:
            return f"spark thrift server: not running ({'but something listens on' if self.accepting else 'nothing on'} {self.host}:{self.port})"
        state = "accepting connections" if self.accepting else "starting (not accepting yet)"
        return f"spark thrift server: pid {self.pid}, {state} on {self.host}:{self.port}, data in {spark_dir()}"


def status() -> Status:
    return Status(running_pid(), port_open())


def command() -> list[str]:
    """``spark-submit`` of the Hive Thrift server (what Spark's sbin/start-thriftserver.sh runs; the wheel has no sbin)."""
    root = spark_dir()
    metastore = root / "metastore_db"
    return [
        str(spark_home() / "bin" / "spark-submit"),
        "--master", MASTER,
        "--driver-memory", DRIVER_MEMORY,
        "--name", "journey-thriftserver",
        "--class", THRIFT_SERVER_CLASS,
        "--conf", f"spark.sql.warehouse.dir={root / 'warehouse'}",
        "--conf", f"spark.driver.extraJavaOptions=-Dderby.system.home={root} -Duser.timezone=UTC",
        "--conf", f"spark.hadoop.javax.jdo.option.ConnectionURL=jdbc:derby:;databaseName={metastore};create=true",
        "--conf", "spark.sql.session.timeZone=UTC",
        "--conf", "spark.sql.shuffle.partitions=4",   # 2 local cores: Spark's 200 shuffle partitions only cost time
        "--conf", "spark.sql.adaptive.enabled=true",
        "--conf", "spark.ui.enabled=false",
        # Parquet handed to DuckDB (Python models) keeps instants as UTC-adjusted microseconds, not legacy INT96
        "--conf", "spark.sql.parquet.outputTimestampType=TIMESTAMP_MICROS",
        # a backslash in a string literal is itself, as in DuckDB and PostgreSQL (regular expressions in the models)
        "--conf", "spark.sql.parser.escapedStringLiterals=true",
        "--conf", "spark.sql.catalogImplementation=hive",
        "--conf", f"spark.driver.bindAddress={HOST}",
        "--conf", f"spark.driver.host={HOST}",
        "--hiveconf", f"hive.server2.thrift.port={PORT}",
        "--hiveconf", f"hive.server2.thrift.bind.host={HOST}",
        "spark-internal",
    ]


def start(timeout: float = START_TIMEOUT_S) -> tuple[int, float]:
    """Starts the server unless it runs; waits until it accepts connections. Returns (pid, seconds waited)."""
    from ingestion import pseudonym

    pid = running_pid()
    if pid is not None and port_open():
        return pid, 0.0
    if pid is None and port_open():
        raise RuntimeError(f"{HOST}:{PORT} is taken by another process (not the server of {pid_file()})")
    home = java_home()
    if home is None:
        raise RuntimeError("no Java: install Debian's openjdk-17-jre-headless (or set JAVA_HOME)")
    root = spark_dir()
    root.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    if pid is None:
        ipad, opad = hmac_pads(pseudonym.key())
        env = {**os.environ, "SPARK_HOME": str(spark_home()), "JAVA_HOME": home, IPAD_ENV: ipad, OPAD_ENV: opad,
               "SPARK_LOG_DIR": str(root), "SPARK_LOCAL_IP": HOST}
        env.pop("PYSPARK_PYTHON", None)
        with open(log_file(), "ab") as log:
            process = subprocess.Popen(command(), cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        pid = process.pid
        pid_file().write_text(f"{pid}\n")
    while not port_open():
        if not _alive(pid):
            pid_file().unlink(missing_ok=True)
            raise RuntimeError(f"the Spark Thrift server exited while starting: see {log_file()}")
        if time.monotonic() - started > timeout:
            stop()
            raise RuntimeError(f"the Spark Thrift server did not accept connections within {timeout:.0f} s: see {log_file()}")
        time.sleep(0.5)
    return pid, time.monotonic() - started


def stop(timeout: float = 30.0) -> bool:
    """Stops the server of the pid file (its process group: spark-submit's JVM). True when one was running."""
    pid = running_pid()
    if pid is None:
        pid_file().unlink(missing_ok=True)
        return False
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not _alive(pid):
            break
    pid_file().unlink(missing_ok=True)
    return True


def connect():
    """A DB-API connection to the server (PyHive, as dbt-spark's thrift method)."""
    from pyhive import hive

    return hive.connect(host=HOST, port=PORT, username="journey")


def lake_tables(lake: Path | None = None) -> dict[str, list[str]]:
    """dlt's Parquet datasets under the lake: {dataset: [table, ...]} (folders holding .parquet files; dlt's own
    ``_dlt_*`` bookkeeping tables left out)."""
    lake = lake or lake_dir()
    found: dict[str, list[str]] = {}
    if not lake.is_dir():
        return found
    for dataset in sorted(p for p in lake.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        tables = [t.name for t in sorted(dataset.iterdir())
                  if t.is_dir() and not t.name.startswith("_dlt") and any(t.glob("*.parquet"))]
        if tables:
            found[dataset.name] = tables
    return found


def register(lake: Path | None = None, cursor=None) -> dict[str, list[str]]:
    """External tables over dlt's Parquet: ``<dataset>.<table> USING parquet LOCATION '<lake>/<dataset>/<table>'``,
    replaced each time (a new load may have widened the schema). Returns what it registered."""
    lake = (lake or lake_dir()).resolve()
    tables = lake_tables(lake)
    own = cursor is None
    conn = connect() if own else None
    cur = conn.cursor() if own else cursor
    try:
        for dataset, names in tables.items():
            cur.execute(f"create database if not exists `{dataset}`")
            for name in names:
                location = (lake / dataset / name).as_uri()
                cur.execute(f"drop table if exists `{dataset}`.`{name}`")
                cur.execute(f"create table `{dataset}`.`{name}` using parquet location '{location}'")
    finally:
        if own:
            conn.close()
    return tables


# --- the project's Python models on Spark (orchestration.lib.engine_python) ------------------------------------------
# Spark hands a parent to the in-process DuckDB session as Parquet it writes itself (INSERT OVERWRITE DIRECTORY), so
# types survive (timestamps as UTC instants, decimals, arrays); the Python model's result comes back as Parquet
# DuckDB writes, under an external table python_models.<name>. Local paths: the server runs on this machine.


def exchange_dir() -> Path:
    return spark_dir() / "exchange"


def read_into_duckdb(cursor, session, schema: str, table: str, local: str) -> int:
    """Copies Spark's ``schema.table`` into DuckDB table ``local`` (through Parquet); returns rows."""
    folder = exchange_dir() / "in" / f"{schema}.{table}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    cursor.execute(f"insert overwrite directory '{folder.as_uri()}' using parquet select * from `{schema}`.`{table}`")
    files = sorted(str(p) for p in folder.glob("*.parquet"))
    if files:
        session.execute(f'create or replace table "{local}" as select * from read_parquet(?)', [files])
    else:  # an empty table: Spark writes no file; its columns from the catalogue
        cursor.execute(f"describe `{schema}`.`{table}`")
        columns = [(name, kind) for name, kind, *_ in cursor.fetchall() if name and not name.startswith("#")]
        definition = ", ".join(f'"{name}" {_spark_to_duckdb(kind)}' for name, kind in columns)
        session.execute(f'create or replace table "{local}" ({definition})')
    shutil.rmtree(folder, ignore_errors=True)
    return session.execute(f'select count(*) from "{local}"').fetchall()[0][0]


def _spark_to_duckdb(kind: str) -> str:
    kind = kind.lower()
    if kind.startswith("array<"):
        return _spark_to_duckdb(kind[6:-1]) + "[]"
    if kind.startswith(("decimal", "date", "boolean", "bigint", "int", "double", "float", "smallint", "tinyint")):
        return kind
    if kind.startswith("timestamp"):
        return "timestamptz" if kind in ("timestamp", "timestamp_ltz") else "timestamp"
    return "varchar"


def write_from_duckdb(cursor, session, result_table: str, schema: str, name: str) -> int:
    """Replaces Spark's ``schema.name`` with DuckDB table ``result_table`` (Parquet under an external table)."""
    folder = exchange_dir() / "out" / schema / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    # Spark reads no nanosecond timestamps (pandas' datetime64[ns] from a Python model): microseconds, as DuckDB's own
    columns = session.execute(f'describe "{result_table}"').fetchall()
    select = ", ".join(f'cast("{name}" as timestamp) as "{name}"' if kind.upper().startswith("TIMESTAMP_NS") else f'"{name}"'
                       for name, kind, *_ in columns)  # fmt: skip
    session.execute(f"copy (select {select} from \"{result_table}\") to '{folder / 'part-0.parquet'}' (format parquet)")
    cursor.execute(f"create database if not exists `{schema}`")
    cursor.execute(f"drop table if exists `{schema}`.`{name}`")
    cursor.execute(f"create table `{schema}`.`{name}` using parquet location '{folder.as_uri()}'")
    return session.execute(f'select count(*) from "{result_table}"').fetchall()[0][0]


# --- journey compare spark (orchestration.compare) ---------------------------------------------------------------


def reset() -> None:
    """A clean Spark for a comparison: the server of this data directory stopped, its metastore and warehouse
    directory removed (the next :func:`start` creates them anew)."""
    stop()
    for name in ("metastore_db", "warehouse", "exchange"):
        shutil.rmtree(spark_dir() / name, ignore_errors=True)


def engine_tables(schemas: tuple[str, ...] = ("marts", "pii")) -> dict[str, dict]:
    """{schema.table: {"columns": [...], "rows": [...]}} of ``schemas`` on Spark, read as orchestration.compare reads
    DuckDB: each table handed over as Parquet to an in-memory DuckDB, so values arrive as the same Python types
    (lists, decimals, UTC datetimes)."""
    import duckdb

    conn = connect()
    cursor = conn.cursor()
    session = duckdb.connect()
    try:
        session.execute("set TimeZone = 'UTC'")
        cursor.execute("show databases")
        present = {row[0] for row in cursor.fetchall()}
        result = {}
        for schema in schemas:
            if schema not in present:
                continue
            cursor.execute(f"show tables in `{schema}`")
            for row in cursor.fetchall():
                table, temporary = row[1], row[2]
                if temporary:
                    continue
                read_into_duckdb(cursor, session, schema, table, "_t")
                rel = session.execute('select * from "_t"')
                result[f"{schema}.{table}"] = {"columns": [d[0] for d in rel.description], "rows": rel.fetchall()}
        return result
    finally:
        session.close()
        conn.close()
