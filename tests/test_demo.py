"""`make demo`'s program (`journey demo`), as a user runs it, on a small world in its own data folder."""

import os
import re
import subprocess
import sys

import duckdb


def test_demo_builds_everything_and_says_so(tmp_path):
    env = {**os.environ, "JW_DATA_DIR": str(tmp_path / "data"), "DAGSTER_HOME": str(tmp_path / "data" / "dagster_home")}
    done = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "demo", "--seed", "7", "--people", "300", "--days", "21"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = done.stdout
    assert f"warehouse: {tmp_path / 'data' / 'warehouse.duckdb'}" in out
    with duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True) as con:
        marts = con.execute("select count(*) from information_schema.tables where table_schema = 'marts'").fetchone()[0]
    assert re.search(r"raw\s+\d+ tables", out) and re.search(rf"marts\s+{marts} tables", out) and marts >= 16
    assert re.search(r"quarantined: .*\biot [1-9][\d,]* \(readings [1-9]", out)  # the demo world has bad IoT lines
    assert re.search(r"checks: (\d+) of \1 passed", out)
    assert re.search(r"value: +[1-9][\d,]* customers as of \d{4}-\d\d-\d\d, [1-9][\d,]* purchases", out)
    assert re.search(r"clv: +BG/NBD r \d", out) and "backtest" in out
    assert re.search(r"precision 0\.\d{4} \(\d+/\d+ pairs\), recall 0\.\d{4}", out)
    assert re.search(r"experience: +[1-9][\d,]* texts scored \(de [1-9][\d,]*, en [1-9][\d,]*;", out)
    assert re.search(r"devices: +[1-9][\d,]* consented device-days .*customer_360 has (\d+) traits", out)
    assert int(re.search(r"customer_360 has (\d+) traits", out).group(1)) >= 40
    assert re.search(r"sentiment vs the texts' truth: macro-F1 de 0\.\d{3} \([\d,]+ texts\), en 0\.\d{3}", out)
    assert f"serving copy: {tmp_path / 'data' / 'serving.duckdb'} (" in out  # published by the run (asset serving_copy)
    assert "make ui" in out and str(tmp_path / "data" / "dagster_home") in out
    assert re.search(r"consent: +consenting now email marketing [1-9][\d,]* · profiling \d", out)
    # activation: the segments, the week's plan, what the build left in the outbox for `journey deliver`
    assert re.search(r"segments: +.*lapsed loyalty [1-9]", out) and re.search(r"campaigns: +[1-9][\d,]* sends planned", out)
    assert re.search(r"outbox: +.*campaign [1-9][\d,]* released, 0 held", out)
    assert len(out.splitlines()) < 31  # a summary, not a log: the log is in a file
    assert (tmp_path / "data" / "logs" / "demo_run.log").stat().st_size > 0
    assert (tmp_path / "data" / "dagster_home" / "dagster.yaml").exists()
