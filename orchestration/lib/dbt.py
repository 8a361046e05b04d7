"""The dbt project as Dagster sees it, with a manifest that is rebuilt whenever the project changed."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import uuid
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Iterator

from dagster_dbt import DbtCliResource, DbtProject
from filelock import FileLock

from ingestion import config
from ingestion.config import REPO_ROOT, warehouse_path

DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"

# The dbt installed next to this interpreter (the project's venv), whether or not the venv is on PATH.
DBT_EXECUTABLE = str(Path(sys.executable).with_name("dbt"))

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


class WarehouseDbtCliResource(DbtCliResource):
    """dagster-dbt's dbt CLI resource without two costs per build that serve this project nothing.

    dagster-dbt asks the executable for its version (``dbt --version``, a process that imports all of dbt, twice
    per build) and loads a dbt adapter into the Dagster process, used only to fetch row counts and column
    metadata (``fetch_row_counts``, ``fetch_column_metadata``: not used here; orchestration.lib.mart_metadata
    reads the marts itself). The executable is this venv's dbt, so its version is the installed dbt-core's.
    """

    @property
    def _cli_version(self):
        from importlib.metadata import version as installed

        from packaging import version

        if Path(self.dbt_executable) != Path(DBT_EXECUTABLE):  # another dbt: ask it
            return super()._cli_version
        return version.parse(installed("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):
        return None  # no adapter handle: dagster-dbt's invocation takes None (as for dbt Fusion)


PG_KEY_SETTING = "jw.pseudonym_key"


def engine_env() -> dict[str, str]:
    """The environment dbt needs for ``JW_DESTINATION`` besides the warehouse path: the target's name and, for
    PostgreSQL, the parts of ``JW_POSTGRES_URL`` (``JW_PG_*``) and the pseudonym key as the session setting
    ``jw.pseudonym_key`` (hex, through libpq's ``PGOPTIONS``, with ``TimeZone=UTC``), which ``postgres__keyed_hash`` reads with
    ``current_setting``: the key reaches the server per connection and never appears in SQL, compiled files or logs.
    """
    env = config.dbt_env()
    if env["JW_DESTINATION"] == "postgres":
        from ingestion import pseudonym

        options = os.environ.get("PGOPTIONS", "")
        # UTC sessions, as DuckDB's (profiles.yml): casts of timestamptz to dates and days are UTC days
        env["PGOPTIONS"] = f"{options} -c TimeZone=UTC -c {PG_KEY_SETTING}={pseudonym.key().hex()}".strip()
    return env


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
                env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", **config.dbt_env()},
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
        env={**os.environ, "JW_WAREHOUSE_PATH": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
             **engine_env(), **(env or {})},
        capture_output=capture, text=True, check=check,
    )  # fmt: skip


PARTIAL_PARSE = "partial_parse.msgpack"
KEPT_PARSE_STATES = 20


def build_target_path(name: str, run_id: str) -> Path:
    """A fresh target folder for one dbt invocation of a run, named as dagster-dbt names its own."""
    return DBT_PROJECT_DIR / "target" / f"{name}-{run_id[:7]}-{uuid.uuid4().hex[:7]}"


@contextmanager
def parse_state_kept(target: Path, warehouse: Path) -> Iterator[None]:
    """dbt's saved parse (``partial_parse.msgpack``) for ``warehouse``, put into ``target`` before dbt runs and
    kept from it afterwards.

    dbt reparses the whole project (seconds) whenever the profile differs from the one of its saved parse, and
    the warehouse path is part of the profile: the project's own saved parse (``dbt parse`` with whatever
    warehouse was set then) serves no warehouse, so the state is kept per warehouse path. dbt still checks each
    file against the saved state and reparses what changed.
    """
    engine = f"{config.destination()}:{config.postgres_url() if config.destination() == 'postgres' else ''}"
    key = hashlib.sha256(f"{Path(warehouse).resolve()}|{engine}".encode()).hexdigest()[:16]
    kept = DBT_PROJECT_DIR / "target" / "parse_state" / f"{key}.msgpack"
    target.mkdir(parents=True, exist_ok=True)
    if kept.exists():
        shutil.copyfile(kept, target / PARTIAL_PARSE)
    yield
    if (target / PARTIAL_PARSE).exists():
        kept.parent.mkdir(parents=True, exist_ok=True)
        partial = kept.with_name(f"{kept.name}.{uuid.uuid4().hex[:7]}")
        shutil.copyfile(target / PARTIAL_PARSE, partial)
        os.replace(partial, kept)  # whole or not at all, whoever reads it next
        with suppress(OSError):  # another run prunes at the same time
            for old in sorted(kept.parent.glob("*.msgpack"), key=lambda p: p.stat().st_mtime)[:-KEPT_PARSE_STATES]:
                old.unlink(missing_ok=True)  # warehouses of the past (test folders): ~1.4 MB each


@contextmanager
def dbt_environment() -> Iterator[None]:
    """For the block, the environment dbt is launched with names the warehouse resolved now, not at import.

    dagster-dbt copies ``os.environ`` when it starts dbt and takes no environment of its own, so the
    variable is set here and the previous environment restored afterwards: nothing leaks into the rest
    of the process (later runs, other assets, subprocesses).
    """
    with config.environment(JW_WAREHOUSE_PATH=str(warehouse_path()), **engine_env()):
        yield
