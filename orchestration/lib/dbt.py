"""The dbt project as Dagster sees it, with a manifest that is rebuilt whenever the project changed."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from dagster_dbt import DbtProject
from filelock import FileLock

from ingestion.config import REPO_ROOT, warehouse_path

DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"

# The dbt installed next to this interpreter (the project's venv), whether or not the venv is on PATH.
DBT_EXECUTABLE = str(Path(sys.executable).with_name("dbt"))

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def _newest_source_mtime() -> float:
    paths = [DBT_PROJECT_DIR / "dbt_project.yml", DBT_PROJECT_DIR / "profiles.yml"]
    for folder in ("models", "macros", "tests", "seeds"):
        paths.extend(p for p in (DBT_PROJECT_DIR / folder).rglob("*") if p.is_file())
    return max(p.stat().st_mtime for p in paths)


def ensure_manifest() -> Path:
    """``dbt parse`` when the manifest is missing or older than any file of the project. Opens no database.

    Under a file lock: processes that load the definitions at once (two runs, test workers) parse once, in turn.
    """
    manifest = dbt_project.manifest_path
    manifest.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(manifest.parent / ".manifest.lock"):
        if not manifest.exists() or manifest.stat().st_mtime < _newest_source_mtime():
            subprocess.run(
                [DBT_EXECUTABLE, "parse", "--quiet", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)],
                check=True,
                cwd=DBT_PROJECT_DIR,
                env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
            )
    return manifest


def run_dbt(
    args: list[str], warehouse: Path, target: Path, log_dir: Path | None = None, env: dict[str, str] | None = None,
    capture: bool = True, check: bool = False,
) -> subprocess.CompletedProcess:
    """This venv's dbt with ``args`` on the project against ``warehouse``, outside Dagster (training, tests).

    ``target`` holds its target (manifest, run results; one per caller parses the project once), ``log_dir`` its
    logs (default ``target/logs``); ``env`` adds to the environment.
    """
    return subprocess.run(
        [DBT_EXECUTABLE, *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
         "--target-path", str(target), "--log-path", str(log_dir or target / "logs")],
        cwd=DBT_PROJECT_DIR,
        env={**os.environ, "JW_WAREHOUSE_PATH": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", **(env or {})},
        capture_output=capture, text=True, check=check,
    )  # fmt: skip


@contextmanager
def dbt_environment() -> Iterator[None]:
    """For the block, the environment dbt is launched with names the warehouse resolved now, not at import.

    dagster-dbt copies ``os.environ`` when it starts dbt and takes no environment of its own, so the
    variable is set here and the previous environment restored afterwards: nothing leaks into the rest
    of the process (later runs, other assets, subprocesses).
    """
    previous = os.environ.get("JW_WAREHOUSE_PATH")
    os.environ["JW_WAREHOUSE_PATH"] = str(warehouse_path())
    try:
        yield
    finally:
        if previous is None:
            del os.environ["JW_WAREHOUSE_PATH"]
        else:
            os.environ["JW_WAREHOUSE_PATH"] = previous
