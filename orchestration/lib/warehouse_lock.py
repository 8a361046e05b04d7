"""DuckDB allows one read-write process per file, or many read-only ones. A warehouse writer that finds the
file locked by a reader (someone browsing the warehouse, a dashboard, ``duckdb -readonly``) waits for the
lock with exponential backoff and jitter instead of failing its step:

- ``wait_until_writable()`` before the step opens the warehouse (cheap: opens and closes a connection);
- ``retry_on_lock_conflict()`` around the step turns a lock conflict that still happens (a reader slipped in
  between) into a Dagster retry of the step, with the same backoff; any other error fails the step as before.

Outside Dagster (``journey forget``): ``connect_writable()`` opens the warehouse for writing, waiting out readers, and
``retry_lock_conflicts(fn)`` calls ``fn`` again after a backoff while it meets the lock.
"""

from __future__ import annotations

import random
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, TypeVar

if TYPE_CHECKING:  # dagster is imported by the step that uses it (forget and the serving copy run without it)
    import dagster as dg

LOCK_CONFLICT = "Could not set lock on file"
T = TypeVar("T")

FIRST_DELAY_SECONDS = 0.5
MAX_DELAY_SECONDS = 15.0
WAIT_TIMEOUT_SECONDS = 120.0  # waiting before a step
STEP_RETRIES = 5  # then retries of the step (about 2 more minutes)


def is_lock_conflict(error: BaseException | None) -> bool:
    """Whether ``error`` (or an error it was raised from, or dbt's messages it carries) is DuckDB's lock conflict."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if LOCK_CONFLICT in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with full jitter: attempt 0 waits up to 0.5 s, then 1, 2, 4 ... capped at 15 s."""
    return random.uniform(0.5, 1.0) * min(FIRST_DELAY_SECONDS * 2**attempt, MAX_DELAY_SECONDS)


def wait_until_writable(warehouse: Path, log=None, timeout: float | None = None) -> float:
    """Block until the warehouse can be opened for writing (or ``timeout``, default ``WAIT_TIMEOUT_SECONDS``,
    passed); returns the seconds waited. Returns on timeout too: the step then meets the conflict itself and
    is retried.
    """
    import duckdb

    timeout = WAIT_TIMEOUT_SECONDS if timeout is None else timeout

    started = time.monotonic()
    attempt = 0
    while True:
        try:
            duckdb.connect(str(warehouse)).close()
            return time.monotonic() - started
        except duckdb.IOException as error:
            if not is_lock_conflict(error) or time.monotonic() - started > timeout:
                return time.monotonic() - started
        delay = backoff_seconds(attempt)
        if log and attempt == 0:
            log.info(f"The warehouse is locked by another process (a reader?): waiting for it, up to {timeout:.0f} s.")
        time.sleep(delay)
        attempt += 1


def retry_lock_conflicts(fn: Callable[[], T], log=None, timeout: float | None = None) -> T:
    """``fn()``, called again after a backoff while it fails on a lock conflict, until ``timeout`` (default
    ``WAIT_TIMEOUT_SECONDS``) has passed; then (or on any other error) its error is raised."""
    timeout = WAIT_TIMEOUT_SECONDS if timeout is None else timeout
    started = time.monotonic()
    attempt = 0
    while True:
        try:
            return fn()
        except Exception as error:
            if not is_lock_conflict(error) or time.monotonic() - started > timeout:
                raise
        if log and attempt == 0:
            log.info(f"The warehouse is locked by another process (a reader?): retrying, up to {timeout:.0f} s.")
        time.sleep(backoff_seconds(attempt))
        attempt += 1


def connect_writable(warehouse: Path, log=None, timeout: float | None = None):
    """A read-write DuckDB connection to ``warehouse``, waiting out readers (see ``retry_lock_conflicts``)."""
    import duckdb

    return retry_lock_conflicts(lambda: duckdb.connect(str(warehouse)), log=log, timeout=timeout)


@contextmanager
def retry_on_lock_conflict(context: dg.AssetExecutionContext) -> Iterator[None]:
    """Re-raise a DuckDB lock conflict inside the block as a Dagster retry of the step, after a backoff."""
    import dagster as dg

    try:
        yield
    except Exception as error:
        if not is_lock_conflict(error):
            raise
        attempt = context.retry_number
        if attempt >= STEP_RETRIES:
            raise
        delay = backoff_seconds(attempt + 2)
        context.log.warning(f"The warehouse was locked by another process: retrying the step in {delay:.1f} s.")
        raise dg.RetryRequested(max_retries=STEP_RETRIES, seconds_to_wait=delay) from error
