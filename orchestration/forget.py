"""``journey forget``: erase one person from every layer of the warehouse, for good.

In order, with the warehouse opened for writing (after waiting out readers, ``warehouse_lock``: a reader that slips
in before a connection is opened is waited out again, with backoff):

1. find the person (``--email`` or ``--person-id``) and their identifiers (``ingestion.erasure``);
2. add their keyed hashes to the suppression list (``$JW_DATA_DIR/suppression.json``) that ingestion applies
   (first: a load running meanwhile cannot bring them back), suppress the person for every purpose in the
   activation store (``activation.store``: the delivery worker sends them nothing more) and delete their
   undelivered outbox messages and their webhooks in the inbox, then delete their rows from every raw table of
   the six sources, child tables and quarantine, empty dlt's merge staging datasets, and delete their person
   ids from models dbt keeps across runs (incremental: the person registry, journey sessions, merge log) and
   rows naming their e-mail or handle from any other table (one dbt no longer builds keeps its old rows);
3. rebuild the models (``dbt run``): staging, intermediate, marts and ``pii`` no longer have them;
4. delete dlt's local load packages and traces (they hold rows as loaded) and lines of the run logs
   (``$JW_DATA_DIR/logs``) naming the person's e-mail, phone or handle;
5. rewrite the DuckDB file (``COPY FROM DATABASE`` into a new file, swapped in) so deleted bytes are gone;
6. publish the serving copies again from the rewritten warehouse (``orchestration.serving``: ``serving.duckdb``,
   ``serving_pii.duckdb``, and PostgreSQL when ``$JW_SERVING_POSTGRES_URL`` is set): they are replaced whole, so
   the person leaves them too (with no marts to publish, the old copies are deleted);
7. search every file under the data folder (``source_systems/`` excepted) for the person's direct identifiers:
   what is left is reported (``residue``), never silently ignored;
8. write the audit row (``audit.erasure_log``: request id, who asked, when, a keyed hash of the person,
   rows and files removed as JSON, seconds; no identifier in clear).
"""

from __future__ import annotations

import getpass
import json
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ingestion import config, erasure

AUDIT_DDL = """
create schema if not exists audit;
create table if not exists audit.erasure_log (
    request_id varchar primary key,
    requested_by varchar not null,
    requested_at timestamptz not null,
    person_hash varchar not null,
    removed json not null,
    seconds double not null
)
"""


@dataclass
class ForgetResult:
    request_id: str
    person_hash: str
    person_ids: int
    identifiers: int
    removed: dict[str, int] = field(default_factory=dict)
    files_removed: dict[str, int] = field(default_factory=dict)
    suppressed_new: int = 0
    staging_emptied: int = 0  # rows (everyone's) of dlt's merge staging datasets emptied
    bytes_before: int = 0
    bytes_after: int = 0
    seconds: float = 0.0
    dbt_ok: bool = True
    step_seconds: dict[str, float] = field(default_factory=dict)
    residue: list[str] = field(default_factory=list)  # files under the data folder still holding an identifier
    serving: str | None = None  # the DuckDB serving copy published again (its path)
    serving_removed: list[str] = field(default_factory=list)  # old serving copies deleted (no marts to publish)
    republished: str | None = None  # the PostgreSQL serving copy published again ($JW_SERVING_POSTGRES_URL), password masked

    @property
    def rows_removed(self) -> int:
        return sum(self.removed.values())


def _rebuild_models(warehouse: Path) -> bool:
    from orchestration.lib.dbt import run_dbt

    with tempfile.TemporaryDirectory(prefix="jw-forget-dbt-") as tmp:
        done = run_dbt(["run"], warehouse, Path(tmp) / "target", log_dir=Path(tmp) / "logs")
    if done.returncode != 0:
        raise RuntimeError("dbt could not rebuild the models after the erasure (the raw rows are deleted and the "
                           "suppression list written; run `journey run` to rebuild):\n" + done.stdout[-3000:])  # fmt: skip
    return True


def _scrub_logs(identifiers: set[tuple[str, str]]) -> dict[str, int]:
    """Run logs under ``$JW_DATA_DIR/logs`` that mention a direct identifier of the person lose those lines."""
    removed: dict[str, int] = {}
    needles = [v.encode() for k, v in identifiers if k in erasure.DIRECT_KINDS and len(v) >= 5]
    folder = config.data_dir() / "logs"
    if not needles or not folder.is_dir():
        return removed
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        lower = data.lower()
        if not any(n.lower() in lower for n in needles):
            continue
        lines = data.splitlines(keepends=True)
        kept = [line for line in lines if not any(n.lower() in line.lower() for n in needles)]
        path.write_bytes(b"".join(kept))
        removed[str(path.relative_to(config.data_dir()))] = len(lines) - len(kept)
    return removed


def _forget_activation(person_ids: set[str], identifiers: set[tuple[str, str]], email: str | None) -> dict[str, int]:
    """The activation store (outside the warehouse): each person suppressed for everything (``erased``), their
    undelivered outbox messages and the inbox's webhooks of their shop customer ids and ESP profile ids (or naming
    their e-mail) deleted."""
    from activation import store

    refs = {value for kind, value in identifiers if kind in ("shop_customer", "esp_profile")}
    needles = {value for kind, value in identifiers if kind == "email"} | ({email.strip()} if email else set())
    return store.forget_person(person_ids, refs, needles)


def _republish(result: ForgetResult, warehouse: Path) -> None:
    """The serving copies, published again from the rewritten warehouse (each replaced whole: the person leaves them),
    PostgreSQL's too when its URL is set; without marts to publish, the old DuckDB copies are deleted instead."""
    from orchestration.serving import ServingError, publish_all, remove_serving

    try:
        report = publish_all(warehouse)
    except ServingError:  # no schema marts (never built): an old copy must not keep the person
        result.serving_removed = [str(p) for p in remove_serving()]
        return
    result.serving = str(report.path)
    result.republished = report.postgres_url


def forget(email: str | None = None, person_id: str | None = None, requested_by: str | None = None,
           warehouse: Path | None = None, rebuild: bool = True) -> ForgetResult:  # fmt: skip
    """Erase one person (see the module docstring); returns what was removed."""
    from orchestration.lib.warehouse_lock import connect_writable, retry_lock_conflicts, wait_until_writable

    if bool(email) == bool(person_id):
        raise ValueError("give exactly one of --email and --person-id")
    started = time.monotonic()
    requested_at = datetime.now(timezone.utc)
    warehouse = Path(warehouse or config.warehouse_path())
    if not warehouse.exists():
        raise FileNotFoundError(f"no warehouse at {warehouse}")
    wait_until_writable(warehouse)

    con = connect_writable(warehouse)
    try:
        person_ids = erasure.person_ids_for(con, email=email, person_id=person_id)
        seeds = erasure.graph_identifiers(con, person_ids)
        if email:
            seeds.add(("email", erasure.normalize("email", email)))
        if not seeds:
            raise LookupError("no such person in the warehouse (nothing removed)")
        identifiers = erasure.person_identifiers(con, seeds)
        # suppressed first: a load running between the deletion and the rebuild cannot bring them back
        suppressed_new = erasure.write_suppression(identifiers)
        # and in the activation store: the delivery worker sends them nothing more from now on
        activation_removed = _forget_activation(person_ids, identifiers, email)
        removed = erasure.delete_person(con, identifiers)
        removed.update(activation_removed)
        removed.update(erasure.delete_person_ids(con, person_ids))
        for relation, n in erasure.sweep_derived_tables(con, identifiers).items():
            removed[relation] = removed.get(relation, 0) + n
        staging_emptied = erasure.empty_staging_datasets(con)
    finally:
        con.close()
    subject = sorted(person_ids)[0] if person_ids else f"email:{erasure.normalize('email', email)}"
    result = ForgetResult(
        request_id=str(uuid.uuid4()),
        person_hash=erasure.identifier_hash("person", subject),
        person_ids=len(person_ids),
        identifiers=len(identifiers),
        removed=removed,
        suppressed_new=suppressed_new,
        staging_emptied=sum(staging_emptied.values()),
    )
    result.step_seconds["find_and_delete"] = round(time.monotonic() - started, 2)
    if rebuild:
        result.dbt_ok = _rebuild_models(warehouse)
        result.step_seconds["dbt_run"] = round(time.monotonic() - started - sum(result.step_seconds.values()), 2)
    result.files_removed = {f"dlt_pipelines/{k}": v for k, v in erasure.scrub_pipeline_folders().items()}
    result.files_removed.update(_scrub_logs(identifiers))
    wait_until_writable(warehouse)
    mark = time.monotonic()
    result.bytes_before, result.bytes_after = retry_lock_conflicts(lambda: erasure.rewrite_database(warehouse))
    result.step_seconds["rewrite"] = round(time.monotonic() - mark, 2)
    mark = time.monotonic()
    _republish(result, warehouse)
    result.step_seconds["republish"] = round(time.monotonic() - mark, 2)
    result.residue = erasure.residue(
        [v for k, v in identifiers if k in erasure.DIRECT_KINDS] + ([email.strip()] if email else []))
    result.seconds = time.monotonic() - started

    # the audit row (no personal data) is written into the rewritten file
    con = connect_writable(warehouse)
    try:
        con.execute(AUDIT_DDL)
        con.execute(
            "insert into audit.erasure_log values (?, ?, ?, ?, ?, ?)",
            [result.request_id, requested_by or getpass.getuser(), requested_at, result.person_hash,
             json.dumps({"rows": removed, "files": result.files_removed, "identifiers": result.identifiers,
                         "person_ids": result.person_ids, "suppressed_new": result.suppressed_new,
                         "residue_files": len(result.residue),
                         "staging_rows_emptied": result.staging_emptied,
                         "step_seconds": result.step_seconds}, sort_keys=True),
             result.seconds],
        )  # fmt: skip
    finally:
        con.close()
    return result
