"""The library behind ``journey run`` and ``journey demo``: run the whole graph once on the shared Dagster
instance, as a scheduler would, and say what was built, what went to quarantine and which checks passed.

The run goes through the same Dagster instance ``make ui`` opens, so its materializations show there.
``python -m orchestration.demo`` still works: it is ``journey demo``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ingestion import config

# The summary reads the warehouse after the run; another run may be writing it by then (one writer per file: a
# reader is refused while it builds): wait for it as long as one of its dbt steps may take, not fail a finished run.
SUMMARY_WAIT_SECONDS = 600.0


def _read_only(warehouse: Path) -> "duckdb.DuckDBPyConnection":
    from orchestration.lib.warehouse_lock import retry_lock_conflicts

    return retry_lock_conflicts(lambda: duckdb.connect(str(warehouse), read_only=True), timeout=SUMMARY_WAIT_SECONDS)

LAYERS = {
    "raw": config.SOURCE_NAMES,
    "staging": ("staging",),
    "pii": ("pii",),  # direct identifiers, apart (dbt_project/models/pii/_pii.yml)
    "intermediate": ("intermediate",),
    "marts": ("marts",),
}


def layer_counts(warehouse) -> dict[str, dict[str, int]]:
    """Row counts of every table and view in the warehouse, by layer (dlt's bookkeeping tables left out)."""
    counts: dict[str, dict[str, int]] = {layer: {} for layer in LAYERS}
    if not Path(warehouse).exists():
        return counts
    with _read_only(warehouse) as con:
        relations = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_name not like '\\_dlt%' escape '\\' order by 1, 2"
        ).fetchall()
        for schema, table in relations:
            layer = next((name for name, schemas in LAYERS.items() if schema in schemas), None)
            if layer:
                counts[layer][f"{schema}.{table}"] = con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
    return counts


def quarantine_table_label(table: str) -> str | None:
    """``orders`` for ``orders__quarantine``; None for other tables."""
    return table.removesuffix("__quarantine") if table.endswith("__quarantine") else None


def quarantine_counts(counts: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """Rows in every quarantine table, per source: ``{"shop": {"orders": 2, "customers": 1}, ...}``."""
    out: dict[str, dict[str, int]] = {}
    for relation, rows in counts["raw"].items():
        source, table = relation.split(".", 1)
        label = quarantine_table_label(table)
        if label is not None:
            out.setdefault(source, {})[label] = rows
    return out


def quarantine_lines(quarantined: dict[str, dict[str, int]]) -> list[str]:
    """One line per source that quarantined something (``quarantined: shop 3 (orders 2, customers 1)``)."""
    lines = []
    for source in config.SOURCE_NAMES:
        tables = {t: n for t, n in quarantined.get(source, {}).items() if n}
        if tables:
            detail = ", ".join(f"{t} {n:,}" for t, n in sorted(tables.items(), key=lambda kv: (-kv[1], kv[0])))
            lines.append(f"{source} {sum(tables.values()):,} ({detail})")
    if not lines:
        return ["  quarantined: nothing"]
    header = "  quarantined: "
    out = [header + lines[0]] + [" " * len(header) + line for line in lines[1:]]
    out.append(" " * len(header) + "(rows with their reasons in <source>.<table>__quarantine)")
    return out


JOURNEYS_SQL = """
select
    (select count(*) from marts.journey_sessions),
    (select count(*) from marts.journey_sessions where person_id is not null),
    (select count(*) from marts.journey_sessions where converted),
    (select count(*) from marts.touchpoints where is_conversion),
    (select coalesce(sum(revenue), 0) from marts.touchpoints where is_conversion),
    (select count(*) from marts.touchpoints where person_id is null)
"""


def journey_lines(warehouse) -> list[str]:
    """Sessions and conversions as ``journey demo`` prints them (nothing if the journey marts are not built)."""
    import duckdb

    try:
        with _read_only(warehouse) as con:
            sessions, known, converting, conversions, revenue, anonymous = con.execute(JOURNEYS_SQL).fetchone()
    except duckdb.CatalogException:
        return []
    return [
        f"  journeys:    {sessions:,} sessions ({known:,} of known people, {converting:,} converting); "
        f"{conversions:,} conversions worth {revenue:,.2f}; {anonymous:,} touchpoints still anonymous"
    ]


VALUE_SQL = """
select
    (select count(*) from marts.customer_rfm),
    (select coalesce(sum(frequency), 0) from marts.customer_rfm),
    (select coalesce(sum(monetary), 0) from marts.customer_rfm),
    (select coalesce(sum(imported_revenue), 0) from marts.customer_360),
    (select as_of_date from intermediate.int_value__as_of)
"""
RFM_SEGMENTS = ("champions", "loyal", "potential", "new", "at risk", "cannot lose", "hibernating", "lost")
LIFECYCLE_STAGES = ("prospect", "new", "active", "at risk", "lapsed", "reactivated")


def value_lines(warehouse) -> list[str]:
    """Customers, RFM segments and current lifecycle stages as ``journey demo`` prints them (nothing if not built)."""
    import duckdb

    try:
        with _read_only(warehouse) as con:
            customers, purchases, revenue, imported, as_of = con.execute(VALUE_SQL).fetchone()
            segments = dict(con.execute("select segment, count(*) from marts.customer_rfm group by 1").fetchall())
            stages = dict(con.execute(
                "select stage, count(*) from marts.customer_lifecycle_history where is_current group by 1").fetchall())
    except duckdb.CatalogException:
        return []
    named = lambda counts, order: " · ".join(f"{name} {counts[name]:,}" for name in order if counts.get(name))  # noqa: E731
    return [
        f"  value:       {customers:,} customers as of {as_of}, {purchases:,} purchases worth {revenue:,.2f} "
        f"({imported:,.2f} imported); RFM {named(segments, RFM_SEGMENTS) or 'none'}; "
        f"stages now {named(stages, LIFECYCLE_STAGES) or 'none'}"
    ]


CLV_SQL = """
select r, alpha, a, b, p, q, gamma, customers, calibration_end, converged, failure
from marts.clv_model_runs where purpose = 'production' order by fitted_at desc limit 1
"""
CLV_BACKTEST_SQL = "select predicted_purchases, actual_purchases, mean_absolute_error, holdout_days from marts.clv_backtest where is_total"


def clv_lines(warehouse) -> list[str]:
    """The newest production CLV fit's parameters and the backtest's error as ``journey demo`` prints them."""
    import duckdb

    try:
        with _read_only(warehouse) as con:
            fit = con.execute(CLV_SQL).fetchone()
            backtest = con.execute(CLV_BACKTEST_SQL).fetchone()
    except duckdb.CatalogException:
        return []
    if fit is None:
        return []
    r, alpha, a, b, p, q, gamma, customers, end, converged, failure = fit
    if r is None:
        return [f"  clv:         no fit as of {end}: {failure}"]
    line = (
        f"  clv:         BG/NBD r {r:.3g} alpha {alpha:.3g} a {a:.3g} b {b:.3g}, Gamma-Gamma p {p:.3g} q {q:.3g} "
        f"gamma {gamma:.3g} (days; {customers:,} customers to {end}{'' if converged else ', NOT converged'})"
    )
    if backtest and backtest[0] is not None:
        predicted, actual, mae, days = backtest
        line += f"; backtest {days} d: {predicted:,.1f} predicted vs {actual:,} repeat purchases, MAE {mae:.3f}"
    return [line]


EXPERIENCE_SQL = """
select
    (select count(*) from intermediate.int_experience__text_sentiment),
    (select count(*) from intermediate.int_experience__text_sentiment where language = 'de'),
    (select count(*) from intermediate.int_experience__text_sentiment where language = 'en'),
    (select count(*) from intermediate.int_experience__text_sentiment where sentiment_label = 'negative'),
    (select count(*) from marts.service_alerts where reason = 'negative_mention'),
    (select count(*) from marts.service_alerts where reason = 'negative_review'),
    (select count(*) from marts.device_daily_features),
    (select count(distinct device_id) from marts.device_daily_features),
    (select count(distinct device_id) from marts.device_daily_features where person_id is not null),
    (select count(*) from information_schema.columns where table_schema = 'marts' and table_name = 'customer_360')
"""
ENGAGEMENT_TIERS = ("high", "medium", "low", "none")


def experience_lines(warehouse) -> list[str]:
    """Texts scored, service alerts, engagement tiers and consented device-days as ``journey demo`` prints them."""
    import duckdb

    try:
        with _read_only(warehouse) as con:
            texts, de, en, negative, mentions, reviews, device_days, devices, linked, traits = con.execute(EXPERIENCE_SQL).fetchone()
            tiers = dict(con.execute("select engagement_tier, count(*) from marts.customer_engagement group by 1").fetchall())
    except duckdb.CatalogException:
        return []
    return [
        f"  experience:  {texts:,} texts scored (de {de:,}, en {en:,}; {negative:,} negative); service alerts "
        f"{mentions:,} mentions + {reviews:,} reviews; engagement " + " · ".join(f"{t} {tiers.get(t, 0):,}" for t in ENGAGEMENT_TIERS),
        f"  devices:     {device_days:,} consented device-days of {devices:,} devices ({linked:,} linked: consent holds now); "
        f"customer_360 has {traits} traits",
    ]


PURPOSES = ("email_marketing", "profiling", "device_data", "ad_audiences")


def consent_lines(warehouse) -> list[str]:
    """People consenting now per purpose (the latest decision) and the ledger's size, as ``journey demo`` prints them."""
    import duckdb

    try:
        with _read_only(warehouse) as con:
            granted = dict(con.execute("select purpose, count(*) from marts.consent_current where granted group by 1").fetchall())
            decisions, people = con.execute("select count(*), count(distinct person_id) from marts.consent_events").fetchone()
    except duckdb.CatalogException:
        return []
    return [
        "  consent:     consenting now " + " · ".join(f"{p.replace('_', ' ')} {granted.get(p, 0):,}" for p in PURPOSES)
        + f" (latest decision; {decisions:,} decisions of {people:,} people in the ledger)"
    ]


def activation_lines(warehouse) -> list[str]:
    """Segments, the week's plan and the outbox, as ``journey demo`` prints them: what the nightly build handed to the
    delivery worker (`journey deliver`), held or released."""
    import duckdb
    import sqlalchemy as sa

    from activation import store

    try:
        with _read_only(warehouse) as con:
            members = dict(con.execute("select segment_id, count(*) from marts.segment_members group by 1 order by 1").fetchall())
            planned, holdouts = con.execute(
                "select (select count(*) from marts.campaign_plan),"
                " (select count(*) from marts.campaign_assignments where arm = 'holdout')"
            ).fetchone()
    except duckdb.CatalogException:
        return []
    query = sa.select(store.outbox.c.kind, store.outbox.c.released_at.is_not(None), sa.func.count()).group_by(
        store.outbox.c.kind, store.outbox.c.released_at.is_not(None)
    )
    with store.engine().connect() as conn:
        outbox = {(kind, released): n for kind, released, n in conn.execute(query)}
    kinds = sorted({kind for kind, _ in outbox})
    return [
        "  segments:    " + " · ".join(f"{segment.replace('_', ' ')} {n:,}" for segment, n in members.items()),
        f"  campaigns:   {planned:,} sends planned this week · {holdouts:,} assignments held out",
        "  outbox:      "
        + (" · ".join(f"{kind} {outbox.get((kind, True), 0):,} released, {outbox.get((kind, False), 0):,} held" for kind in kinds) or "empty")
        + " (journey deliver sends them)",
    ]


def serving_lines(serving=None) -> list[str]:
    """Where the serving copy is (what BI tools and the dashboard open) and what it holds, as ``journey demo`` prints it."""
    serving = Path(serving or config.serving_path())
    if not serving.exists():
        return [f"serving copy: none at {serving} (the asset serving_copy publishes it: `journey publish serving`)"]
    try:
        with duckdb.connect(str(serving), read_only=True) as con:
            catalog = con.execute("select current_database()").fetchone()[0]
            tables, rows, published = con.execute(
                f"select count(*), sum(row_count), max(published_at) at time zone 'UTC'"
                f' from "{catalog}".meta.publications'
            ).fetchone()
    except duckdb.Error as error:
        return [f"serving copy: {serving} (unreadable: {type(error).__name__})"]
    return [
        f"serving copy: {serving} ({tables} marts, {rows or 0:,} rows, published {published:%Y-%m-%d %H:%M} UTC): "
        "what BI tools and the dashboard open, read-only; never warehouse.duckdb"
    ]


def run_pipeline(asset_selection=None, full_refresh: bool = False):
    """Materialize every asset (or ``asset_selection``) and run their checks in-process on the shared instance.

    ``full_refresh`` rebuilds dbt's incremental models from scratch instead of their lookback window.

    The run is tagged with this process (so a later run can tell it died) and starts only after the runs of
    processes that are gone were marked failed and their warehouse pool slots freed.
    """
    from orchestration.instance import open_instance, run_tags

    with open_instance() as instance:
        from orchestration.definitions import defs

        job = defs.resolve_implicit_global_asset_job_def()
        run_config = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
        if full_refresh:
            run_config["ops"] = {"journey_dbt_models": {"config": {"full_refresh": True}}}
        return job.execute_in_process(
            run_config=run_config, instance=instance, asset_selection=asset_selection, raise_on_error=False, tags=run_tags()
        )


@dataclass
class RunReport:
    success: bool
    failed_steps: list[str]
    checks: int
    checks_passed: int
    errors: dict[str, str] = field(default_factory=dict)  # failed step -> first line of its error
    failed_checks: list[str] = field(default_factory=list)  # blocking (severity ERROR)
    warnings: list[str] = field(default_factory=list)  # failed non-blocking checks (severity WARN)

    @property
    def ok(self) -> bool:
        return self.success and not self.failed_checks


def _first_line(error) -> str:
    """The innermost error's first line, class included (what went wrong, not the framework's wrapping)."""
    while error.cause is not None:
        error = error.cause
    return (error.message.strip().splitlines() or [error.cls_name])[0][:200]


def report(result) -> RunReport:
    from dagster import AssetCheckSeverity

    evaluations = [e.asset_check_evaluation_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    failed = [c for c in evaluations if not c.passed]
    return RunReport(
        success=result.success,
        failed_steps=[e.step_key for e in result.all_events if e.is_step_failure],
        errors={
            e.step_key: _first_line(e.step_failure_data.error)
            for e in result.all_events
            if e.is_step_failure and e.step_failure_data and e.step_failure_data.error
        },
        checks=len(evaluations),
        checks_passed=len(evaluations) - len(failed),
        failed_checks=[f"{c.asset_key.to_user_string()}:{c.check_name}" for c in failed if c.severity != AssetCheckSeverity.WARN],
        warnings=[f"{c.asset_key.to_user_string()}:{c.check_name}" for c in failed if c.severity == AssetCheckSeverity.WARN],
    )


def run_and_summarize(log_name: str = "run", full_refresh: bool = False) -> RunReport:
    """Run the whole graph (its log to ``<data dir>/logs/<log_name>.log``) and print the summary."""
    log_path = config.data_dir() / "logs" / f"{log_name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        result = run_pipeline(full_refresh=full_refresh)
    print(f"pipeline log: {log_path}")
    summary = report(result)
    if not summary.success:
        print(f"pipeline FAILED in steps: {', '.join(summary.failed_steps) or '(none: see the log)'}")
        for message in dict.fromkeys(summary.errors.values()):  # each distinct error once
            print(f"  {message}")

    warehouse = config.warehouse_path()
    counts = layer_counts(warehouse)
    print(f"\nwarehouse: {warehouse}")
    for layer, tables in counts.items():
        detail = ""
        if layer == "raw":
            detail = " · ".join(
                f"{source} {sum(n for t, n in tables.items() if t.startswith(source + '.')):,}" for source in config.SOURCE_NAMES
            )
        elif layer == "marts":
            detail = " · ".join(f"{t.split('.', 1)[1]} {n:,}" for t, n in tables.items())
        print(f"  {layer:<13}{len(tables):>3} tables {sum(tables.values()):>9,} rows   {detail}".rstrip())
    lines = quarantine_lines(quarantine_counts(counts)) + journey_lines(warehouse) + value_lines(warehouse)
    for line in lines + clv_lines(warehouse) + experience_lines(warehouse) + consent_lines(warehouse) + activation_lines(warehouse):
        print(line)
    for line in serving_lines():
        print(line)
    line = f"\nchecks: {summary.checks_passed} of {summary.checks} passed"
    if summary.warnings:
        line += f"; {len(summary.warnings)} non-blocking failed (warn): {', '.join(summary.warnings)}"
    if summary.failed_checks:
        line += f"; BLOCKING failed: {', '.join(summary.failed_checks)}"
    print(line)
    return summary


if __name__ == "__main__":
    import sys

    from orchestration.cli import main

    main(["demo", *sys.argv[1:]])
