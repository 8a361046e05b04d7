"""What a raw landing must look like, validated by Great Expectations on aggregates the warehouse computes.

GX's SQL datasource on DuckDB is broken (1.24), and a raw table can be big: DuckDB aggregates each table in one
query over every row (exact, no sample) into a one-row frame: ``rows``, ``<column>__null_rate``,
``<column>__min`` / ``__max`` and ``<column>__hours_ahead`` (the newest timestamp's distance to now, in hours).
GX then checks the frame with ``ExpectColumnMin/MaxToBeBetween``: the bounds live in the expectations (and
in the data docs), the warehouse only counts. No column value reaches GX, so no personal data can reach a
result: the frame holds counts, rates, amounts' extremes and hours.

Two severities per table (see ``Landing``):
- **blocking**: at least ``min_rows`` rows and no null in the key columns. An empty or keyless landing would
  silently drop or merge people downstream (identity, customer_360), so the marts must not build on it.
- **warn**: null rates of other columns under their threshold, amounts and counts in range, no timestamp
  more than ``FUTURE_TOLERANCE_HOURS`` ahead of now. A few odd values are the staging models' business
  (quarantine, clamping); they are reported, not a reason to stop the daily build.
"""

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from orchestration.lib.gx import Outcome, expectation, run_suites

FUTURE_TOLERANCE_HOURS = 24  # server clocks are trusted to a day; device clocks (shop.events.derived_tstamp) are not checked


@dataclass(frozen=True)
class Landing:
    """The rules of one raw table."""

    keys: tuple[str, ...]  # never null (blocking)
    min_rows: int = 1  # blocking
    null_rates: dict[str, float] = field(default_factory=dict)  # column -> highest null share (warn)
    ranges: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)  # column -> (min, max) (warn)
    timestamps: tuple[str, ...] = ()  # not in the future (warn)


THIS_YEAR = datetime.now(timezone.utc).year
NON_NEGATIVE = (0, None)

# The main raw tables (the quarantine tables may be empty and describe bad input: not checked).
LANDINGS: dict[tuple[str, str], Landing] = {
    ("shop", "customers"): Landing(("id",), null_rates={"email": 0.05}, timestamps=("created_at",)),
    ("shop", "orders"): Landing(
        ("id",), null_rates={"customer_id": 0.5, "created_at": 0.0},
        ranges={"total_price": NON_NEGATIVE}, timestamps=("created_at",),
    ),
    ("shop", "orders__lines"): Landing(("order_id", "id"), ranges={"quantity": (1, None), "price": NON_NEGATIVE}),
    ("shop", "abandoned_checkouts"): Landing(("id",), ranges={"total_price": NON_NEGATIVE}, timestamps=("created_at",)),
    ("shop", "abandoned_checkouts__lines"): Landing(
        ("checkout_id", "id"), ranges={"quantity": (1, None), "price": NON_NEGATIVE}
    ),
    ("shop", "events"): Landing(("event_id",), null_rates={"domain_userid": 0.05}, timestamps=("collector_tstamp",)),
    ("shop", "reviews"): Landing(("id",), null_rates={"product_id": 0.0}, ranges={"rating": (1, 5)}, timestamps=("created_at",)),
    ("esp", "profiles"): Landing(("id",), null_rates={"email": 0.05}, timestamps=("created",)),
    ("esp", "events"): Landing(("id",), null_rates={"profile_id": 0.05, "metric_name": 0.0}, timestamps=("datetime",)),
    ("esp", "campaigns"): Landing(("id",), timestamps=("created_at",)),  # scheduled_at may lie ahead
    ("social", "posts"): Landing(("id",), ranges={"reach": NON_NEGATIVE}, timestamps=("created_time",)),
    ("social", "interactions"): Landing(("id",), null_rates={"post_id": 0.6}, timestamps=("created_time",)),
    ("loyalty", "members"): Landing(
        ("member_id",), ranges={"birth_year": (1900, THIS_YEAR)}, timestamps=("joined_at",)
    ),
    ("loyalty", "cards"): Landing(("card_number",), null_rates={"member_id": 0.05}, timestamps=("issued_at",)),
    ("loyalty", "consents"): Landing(("consent_id",), null_rates={"member_id": 0.0}, timestamps=("decided_at",)),
    ("loyalty", "points"): Landing(("points_txn_id",), timestamps=("created_at",)),  # redemptions are negative
    ("loyalty", "receipts"): Landing(
        ("receipt_id",), null_rates={"card_number": 0.5}, ranges={"total_amount": NON_NEGATIVE}, timestamps=("purchased_at",)
    ),
    ("iot", "devices"): Landing(("device_id",), timestamps=("updated_at",)),
    ("iot", "device_consents"): Landing(("device_id",), timestamps=("changed_at",)),
    ("iot", "readings"): Landing(("reading_id",), null_rates={"device_id": 0.0}, timestamps=("recorded_at",)),
    ("history", "orders"): Landing(("history_order_id",), ranges={"amount": NON_NEGATIVE}, timestamps=("ordered_on",)),
}  # fmt: skip


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def aggregate_sql(schema: str, table: str, landing: Landing) -> str:
    """One query over the whole table: the frame GX validates (see the module docstring)."""
    parts = ["count(*) as rows"]
    for column in dict.fromkeys([*landing.keys, *landing.null_rates]):
        parts.append(f"coalesce(avg(({_quote(column)} is null)::int), 0) as {_quote(column + '__null_rate')}")
    for column, (low, high) in landing.ranges.items():
        if low is not None:
            parts.append(f"min({_quote(column)})::double as {_quote(column + '__min')}")
        if high is not None:
            parts.append(f"max({_quote(column)})::double as {_quote(column + '__max')}")
    for column in landing.timestamps:
        parts.append(
            f"(epoch(max({_quote(column)})::timestamptz) - epoch(now())) / 3600.0 as {_quote(column + '__hours_ahead')}"
        )
    return f"select {', '.join(parts)} from {_quote(schema)}.{_quote(table)}"


def expectations(landing: Landing) -> tuple[list, set[str]]:
    """The GX expectations on the aggregate frame, and the labels of the blocking ones."""
    blocking = [expectation("ColumnMinToBeBetween", "row_count", column="rows", min_value=landing.min_rows)]
    for column in landing.keys:
        blocking.append(
            expectation("ColumnMaxToBeBetween", f"null_rate:{column}", column=f"{column}__null_rate", max_value=0.0)
        )
    warn = []
    for column, rate in landing.null_rates.items():
        if column not in landing.keys:
            warn.append(
                expectation("ColumnMaxToBeBetween", f"null_rate:{column}", column=f"{column}__null_rate", max_value=rate)
            )
    for column, (low, high) in landing.ranges.items():
        if low is not None:  # a null extreme (no value at all) is the null rate's business: allowed here
            warn.append(expectation("ColumnMinToBeBetween", f"min:{column}", column=f"{column}__min", min_value=low))
        if high is not None:
            warn.append(expectation("ColumnMaxToBeBetween", f"max:{column}", column=f"{column}__max", max_value=high))
    for column in landing.timestamps:
        warn.append(
            expectation(
                "ColumnMaxToBeBetween", f"not_in_future:{column}", column=f"{column}__hours_ahead",
                max_value=FUTURE_TOLERANCE_HOURS,
            )
        )  # fmt: skip
    return blocking + warn, {e.meta["label"] for e in blocking}


@dataclass
class LandingResult:
    """One table's validation, split into its blocking and its warn part."""

    table: str
    outcome: Outcome
    blocking_labels: set[str]

    def part(self, blocking: bool) -> tuple[bool, dict]:
        """(passed, metadata) of the blocking or the warn expectations: counts, rates and extremes only."""
        chosen = {
            label: e for label, e in self.outcome.expectations.items() if (label in self.blocking_labels) == blocking
        }
        failed = [label for label, e in chosen.items() if not e["success"]]
        metadata = {"table": self.table, "expectations": len(chosen), "failed_expectations": len(failed)}
        for label, e in chosen.items():
            if "observed" in e:
                metadata[label] = e["observed"]
        if failed:
            metadata["failed"] = ", ".join(failed)
        return not failed, metadata


def suite_name(schema: str, table: str) -> str:
    return f"raw_{schema}__{table}"


def aggregate(con, schema: str, table: str) -> tuple["object", list, set[str]]:
    """The aggregate frame of ``schema.table`` on the DuckDB connection ``con`` (read-only is enough), its
    expectations and the blocking labels. A table that does not exist (nothing ever landed) counts as zero rows."""
    landing = LANDINGS[(schema, table)]
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, table]
    ).fetchone()[0]
    expected, blocking = expectations(landing)
    if exists:
        return con.execute(aggregate_sql(schema, table, landing)).df(), expected, blocking
    import pandas as pd

    return pd.DataFrame({"rows": [0]}), [e for e in expected if e.meta["label"] == "row_count"], blocking


def validate_landings(
    connect, tables: list[tuple[str, str]], *, docs: bool = False, run_name: str | None = None
) -> dict[tuple[str, str], LandingResult]:
    """Aggregate each of ``tables`` on one connection from ``connect()`` (closed before GX starts: the warehouse
    is not held while GX validates and builds its docs), then validate them in one go (one data docs build)."""
    with connect() as con:
        prepared = {(schema, table): aggregate(con, schema, table) for schema, table in tables}
    outcomes = run_suites(
        [(frame, suite_name(schema, table), expected) for (schema, table), (frame, expected, _) in prepared.items()],
        docs=docs,
        run_name=run_name,
    )
    return {
        (schema, table): LandingResult(f"{schema}.{table}", outcome, prepared[(schema, table)][2])
        for (schema, table), outcome in zip(prepared, outcomes)
    }


def validate_landing_file(warehouse: Path, schema: str, table: str, *, docs: bool = False) -> LandingResult:
    """One table of ``warehouse``, on a short read-only connection."""
    import duckdb

    connect = lambda: duckdb.connect(str(warehouse), read_only=True)  # noqa: E731
    return validate_landings(connect, [(schema, table)], docs=docs)[(schema, table)]
