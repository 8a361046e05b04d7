"""Loyalty source at N people (default 20,000): first load, reload with no change, reload after deletes, and the
key scans reconciliation adds (wall seconds). Run from the repo root: `python bench/loyalty_reload.py [people]`."""
import pathlib
import sqlite3
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # this checkout's packages first

from ingestion.demo_world import generate
from ingestion.demo_world.writers import write_loyalty_db, sqlite_url
from ingestion import pipelines

people = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
root = pathlib.Path(tempfile.mkdtemp())
w = generate(42, people, 90)
db = root / "loyalty.sqlite"
write_loyalty_db(w, sqlite_url(db))
print({t: len(r) for t, r in w.loyalty.items()})
import dataclasses
ep = dataclasses.replace(pipelines.OFFLINE, loyalty_url=sqlite_url(db))
def run(label):
    t = time.perf_counter()
    info = pipelines.load("loyalty", ep, warehouse=root / "w.duckdb", pipelines_dir=root / "dlt")
    rows = {k: v for k, v in info.pipeline.last_trace.last_normalize_info.row_counts.items() if not k.startswith("_dlt")}
    print(f"{label}: {time.perf_counter() - t:.2f} s, rows {rows}")
run("first load")
run("reload, nothing changed")
with sqlite3.connect(db) as c:
    c.execute("delete from points where member_id in (select member_id from members limit 10)")
    c.execute("delete from receipts where receipt_id in (select receipt_id from receipts where card_number is null limit 100)")
run("reload after deleting 100 receipts and points of 10 members")
import sqlalchemy as sa, duckdb
from ingestion.sources.loyalty import _Reader, TABLES
eng = sa.create_engine(sqlite_url(db))
t = time.perf_counter()
for spec in TABLES.values():
    _Reader(eng, spec, None).keys()
print(f"source key scan, 4 tables: {time.perf_counter() - t:.2f} s")
t = time.perf_counter()
with duckdb.connect(str(root / "w.duckdb"), read_only=True) as con:
    for spec in TABLES.values():
        con.execute(f"select {spec.key} from loyalty.{spec.name}").fetchall()
print(f"warehouse key read, 4 tables: {time.perf_counter() - t:.2f} s")
