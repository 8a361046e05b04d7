"""Raw landings validated by Great Expectations (``orchestration.lib.landing``): two checks on every main raw table,
one multi-check step per source right after its ingestion step.

- ``landing_volume_and_keys`` (BLOCKING): rows at least the floor, no null key. Fails with severity ERROR and
  stops the dbt models downstream of that table in the same run.
- ``landing_values`` (warn): null rates, ranges, no timestamp in the future. Fails with severity WARN; the
  build goes on (staging quarantines or clamps odd values; the check makes them visible).

The steps read the warehouse read-only and run in the warehouse pool: no writer holds the file while they read
(DuckDB refuses a read-only connection then), and they wait for an outside writer like the other steps.
Metadata: counts, rates and extremes, and the GX data docs' path. GX is imported inside the step only.
"""

import dagster as dg

from ingestion.config import SOURCE_NAMES, warehouse_path
from orchestration.lib.constants import WAREHOUSE_POOL
from orchestration.lib.landing import LANDINGS, FUTURE_TOLERANCE_HOURS
from orchestration.lib.warehouse_lock import retry_lock_conflicts

BLOCKING_CHECK = "landing_volume_and_keys"
WARN_CHECK = "landing_values"


def _describe(schema: str, table: str, blocking: bool) -> str:
    landing = LANDINGS[(schema, table)]
    if blocking:
        return (
            f"Great Expectations on the raw landing (blocking): at least {landing.min_rows} row(s); no null in "
            f"{', '.join(landing.keys)}."
        )
    parts = [f"null share of {c} <= {r:.0%}" for c, r in landing.null_rates.items() if c not in landing.keys]
    parts += [
        f"{c} " + " and ".join(x for x in (f">= {lo:g}" if lo is not None else "", f"<= {hi:g}" if hi is not None else "") if x)
        for c, (lo, hi) in landing.ranges.items()
    ]
    parts += [f"{c} not more than {FUTURE_TOLERANCE_HOURS} h ahead" for c in landing.timestamps]
    return "Great Expectations on the raw landing (warn): " + ("; ".join(parts) or "nothing beyond the blocking check") + "."


def build_landing_checks(source: str) -> dg.AssetChecksDefinition:
    tables = [(schema, table) for schema, table in LANDINGS if schema == source]
    specs = [
        dg.AssetCheckSpec(
            name, asset=dg.AssetKey([schema, table]), blocking=blocking, description=_describe(schema, table, blocking)
        )
        for schema, table in tables
        for name, blocking in ((BLOCKING_CHECK, True), (WARN_CHECK, False))
    ]

    @dg.multi_asset_check(specs=specs, name=f"landing_checks_{source}", can_subset=True, pool=WAREHOUSE_POOL)
    def _landing_checks(context: dg.AssetCheckExecutionContext):
        import duckdb

        from orchestration.lib.gx import docs_enabled, docs_dir
        from orchestration.lib.landing import validate_landings

        selected = context.selected_asset_check_keys
        wanted = [
            (s, t) for s, t in tables
            if {dg.AssetCheckKey(dg.AssetKey([s, t]), n) for n in (BLOCKING_CHECK, WARN_CHECK)} & selected
        ]  # fmt: skip
        docs = docs_enabled()
        connect = lambda: retry_lock_conflicts(  # noqa: E731
            lambda: duckdb.connect(str(warehouse_path()), read_only=True), log=context.log
        )
        results = validate_landings(connect, wanted, docs=docs, run_name=context.run.run_id)
        documented = any(r.outcome.documented for r in results.values())
        docs_link = dg.MetadataValue.path(str(docs_dir() / "index.html")) if documented else None
        for (schema, table), result in results.items():
            for name, blocking in ((BLOCKING_CHECK, True), (WARN_CHECK, False)):
                key = dg.AssetCheckKey(dg.AssetKey([schema, table]), name)
                if key not in selected:
                    continue
                passed, metadata = result.part(blocking)
                if docs_link:
                    metadata["gx_docs"] = docs_link
                if not passed:
                    context.log.warning(f"{schema}.{table}: {name} failed ({metadata['failed']}).")
                yield dg.AssetCheckResult(
                    asset_key=key.asset_key,
                    check_name=name,
                    passed=passed,
                    severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN,
                    metadata=metadata,
                )

    return _landing_checks


(
    landing_checks_shop, landing_checks_esp, landing_checks_social, landing_checks_loyalty, landing_checks_iot,
    landing_checks_history,
) = (build_landing_checks(n) for n in SOURCE_NAMES)  # fmt: skip
