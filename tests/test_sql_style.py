"""SQL style: sqlfluff (dbt_project/.sqlfluff: DuckDB, jinja templater with dbt's builtins stubbed) over every model."""

import json
import os
import subprocess
import sys
from pathlib import Path

from orchestration.lib.dbt import DBT_PROJECT_DIR

SQLFLUFF = str(Path(sys.executable).with_name("sqlfluff"))
PROCESSES = "1" if os.environ.get("PYTEST_XDIST_WORKER") else "2"  # under xdist the other worker has the other core


def lint(*paths: str, stdin: str | None = None) -> list[dict]:
    """sqlfluff's findings per file, run from dbt_project/ (its .sqlfluff); ``stdin``: lint that text as ``paths[0]``."""
    args = ["-", "--stdin-filename", paths[0]] if stdin is not None else list(paths)
    done = subprocess.run(
        [SQLFLUFF, "lint", *args, "--format", "json", "--processes", PROCESSES, "--disable-progress-bar", "--nofail"],
        cwd=DBT_PROJECT_DIR, input=stdin, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)


def test_every_model_passes_sqlfluff():
    files = lint("models")
    assert len(files) >= len(list((DBT_PROJECT_DIR / "models").rglob("*.sql")))
    problems = [
        f"{f['filepath']}:{v['start_line_no']}: {v['code']} {v['description']}" for f in files for v in f["violations"]
    ]
    assert problems == [], "sqlfluff (fix many with `cd dbt_project && ../.venv/bin/sqlfluff fix <file>`):\n" + "\n".join(problems)


def test_sqlfluff_catches_what_the_style_forbids():
    # the same config on a model written against it (never written to models/: dbt would parse it): upper-case
    # keywords, an implicit table alias, a leading comma; the project's macros and vars render
    bad = "SELECT a.person_id\n    , {{ utc('a.seen_at') }} as seen_at\nFROM {{ ref('customer_360') }} a\nwhere a.days > {{ var('attribution_lookback_days') }}\n"
    codes = {v["code"] for f in lint("models/marts/probe.sql", stdin=bad) for v in f["violations"]}
    assert {"CP01", "AL01", "LT04"} <= codes
    assert "TMP" not in codes and "PRS" not in codes
