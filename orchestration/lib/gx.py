"""Great Expectations (1.x) on pandas frames: export batches before they leave, raw landings after they load.

Why pandas: GX's SQL datasource on DuckDB is broken in 1.24, so the warehouse is read with DuckDB itself and GX
gets a DataFrame (an export batch is small; a raw table is aggregated in SQL first, see landing.py).

Why this module is careful:

- ``great_expectations`` takes seconds to import: it is imported inside the functions that validate, never at
  module level, so loading the Dagster definitions stays fast (tests/test_gx_checks.py checks it).
- The rows GX sees can hold personal data (that is what the "no clear PII" expectations look for). Every
  validation runs with ``RESULT_FORMAT`` (SUMMARY, no partial unexpected list, no unexpected rows) and
  :func:`_counts` keeps only counts of what GX returns, after checking that GX returned no value lists at all: a
  check result, Dagster metadata or the data docs never carry a failing value.
- Without docs, each validation runs in its own ephemeral context (no shared state between threads or runs).
  With ``docs=True`` it runs in a file context in ``$JW_DATA_DIR/gx`` instead (under a file lock: checks of one
  run may execute in parallel processes), which stores the suite and its result, and the data docs are rebuilt
  into ``$JW_DATA_DIR/gx_docs``, keeping the last ``DOCS_KEEP_PER_SUITE`` results of each suite.
"""

import json
import numbers
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import dagster as dg

from ingestion.config import data_dir

if TYPE_CHECKING:  # imported lazily: see the module docstring
    import pandas as pd

RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 0, "include_unexpected_rows": False}
# what GX may put in a result that names values (all must be absent or empty)
VALUE_KEYS = (
    "partial_unexpected_list", "partial_unexpected_index_list", "partial_unexpected_counts", "unexpected_list",
    "unexpected_index_list", "unexpected_index_query", "unexpected_rows", "details",
)  # fmt: skip

SHA256_REGEX = r"^[0-9a-f]{64}$"
# an address anywhere in a text (no anchors: a clear e-mail inside a JSON property is as bad as a whole one)
EMAIL_REGEX = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
# a phone number as people write it: "+" or a leading 0 (international "+49", "0049", national "0155"), then 7 or
# more digits with spaces, dashes or slashes between them. Not inside a word (hex hashes, ULIDs, ``person_...``
# ids: a digit run with a letter, digit or "_" on either side is no phone). A bare digit run not starting with 0
# is an id (shop product, order and variant ids have 10-11 digits, and a cart's offers carry them), and an ISO
# date (``audience:<segment>:<person>:2026-12-02`` keys) has the shape of one: neither is flagged. Nor is a group
# of a UUID (a batch id carries its run's: ``campaign_batch:02280572-036b-...`` has "0" and 7 digits after a ":"
# in about 1 run of 150): no match right after "<hex>-" or right before "-<4 hex>-".
PHONE_REGEX = (
    r"(?<![\w.])(?<![0-9A-Fa-f]-)(?!\d{4}-\d{2}-\d{2}(?!\d))(?:\+|0)\d?(?:[ \-/]?\d){7,}(?!\w)(?!-[0-9A-Fa-f]{4}-)"
)

DESTINATIONS = ("esp", "ad_audience", "webhook")
KINDS = ("cart_abandonment", "campaign", "audience")
# the outbox row's own columns the batch frame has (exports.outbox), with the type GX expects
OUTBOX_COLUMNS = {"idempotency_key": "str", "destination": "str", "kind": "str", "person_id": "str", "batch_id": "str"}
# columns the destination needs in the expanded payload, beside the outbox's own
DESTINATION_COLUMNS = {
    "esp": {"esp_profile_id": "str", "template": "str"},
    "ad_audience": {"audience": "str", "email_sha256": "str", "phone_sha256": "str"},
    "webhook": {},
}
NOT_NULL = {
    "esp": ("esp_profile_id", "template"),
    "ad_audience": ("audience",),
    "webhook": (),
}
HASH_COLUMNS = ("email_sha256", "phone_sha256")
# the consent each destination needs (marts.customer_360 column, exports.suppressions purpose)
CONSENT = {
    "esp": ("consent_email_marketing", "email_marketing"),
    "webhook": ("consent_email_marketing", "email_marketing"),
    "ad_audience": ("consent_ad_audiences", "ad_audience"),
}
# not scanned for clear PII: the store's own bookkeeping (never free text)
NOT_SCANNED = {"consent", "message_id", "created_at", "trigger_received_at", "released_at"}

DOCS_SITE = "journey_site"
DOCS_KEEP_PER_SUITE = 30
DOCS_LOCK_SECONDS = 20  # waiting longer for another run's docs build: validate without recording instead


def docs_dir() -> Path:
    """Where the GX data docs are built: ``$JW_DATA_DIR/gx_docs`` (``index.html`` in it)."""
    return data_dir() / "gx_docs"


def gx_project_dir() -> Path:
    """The GX file context (suites and validation results kept for the data docs): ``$JW_DATA_DIR/gx`` (GX
    names its project folder ``gx`` inside the root it is given: the data folder)."""
    return data_dir() / "gx"


@dataclass
class Outcome:
    """One suite's validation, reduced to what may be shown anywhere: success and counts, never values."""

    suite: str
    passed: bool
    rows: int
    # label -> {"success": bool, "unexpected": int, "checked": int, ("observed": number)}
    expectations: dict[str, dict[str, Any]] = field(default_factory=dict)
    documented: bool = False  # recorded in the data docs (see run_suites)

    @property
    def failed(self) -> list[str]:
        return [label for label, e in self.expectations.items() if not e["success"]]

    def metadata(self) -> dict[str, Any]:
        """Plain metadata: row count, how many expectations failed and which, a count per expectation."""
        return {
            "suite": self.suite,
            "rows": self.rows,
            "expectations": len(self.expectations),
            "failed_expectations": len(self.failed),
            "failed": self.failed,
            "documented": self.documented,
            "unexpected_counts": {label: e["unexpected"] for label, e in self.expectations.items()},
            "results": self.expectations,
        }


def _gx():
    import great_expectations as gx

    return gx


def _quiet(context) -> None:
    """No tqdm progress bars in Dagster's logs."""
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context.variables.progress_bars = ProgressBarsConfig(globally=False)


def expectation(kind: str, label: str, **kwargs):
    """A GX expectation (``kind`` = its class name without ``Expect``) labelled for results and metadata."""
    gx = _gx()
    cls = getattr(gx.expectations, f"Expect{kind}")
    return cls(meta={"label": label}, **kwargs)


def _counts(result) -> tuple[str, dict[str, Any]]:
    """One expectation's result as (label, counts). Raises if GX returned values (the result format failed)."""
    config = result.expectation_config
    label = (config.meta or {}).get("label") or f"{config.type}:{config.kwargs.get('column', '')}"
    body = dict(result.result or {})
    leaked = [k for k in VALUE_KEYS if body.get(k)]
    if leaked:  # never pass values on, even if GX changed its SUMMARY format
        raise RuntimeError(f"GX returned values ({', '.join(leaked)}) for {label}: refusing to report them")
    counts: dict[str, Any] = {"success": bool(result.success), "unexpected": int(body.get("unexpected_count") or 0)}
    if "element_count" in body:
        counts["checked"] = int(body["element_count"]) - int(body.get("missing_count") or 0)
    observed = body.get("observed_value")
    if isinstance(observed, numbers.Real) and not isinstance(observed, bool):
        counts["observed"] = round(float(observed), 6)  # row counts, rates, extremes of aggregates: numbers only
    exception = result.exception_info or {}
    if isinstance(exception, dict) and exception.get("raised_exception"):
        counts["error"] = True  # the message may quote data: not kept
    if not result.success and not counts["unexpected"] and "element_count" not in body:
        counts["unexpected"] = 1  # a table-level expectation (a column missing, a row count) failed once
    return label, counts


def run_suite(
    df: "pd.DataFrame", suite_name: str, expectations: Iterable, *, docs: bool = False, run_name: str | None = None
) -> Outcome:
    """Validate ``df`` against ``expectations`` (see :func:`run_suites`)."""
    return run_suites([(df, suite_name, list(expectations))], docs=docs, run_name=run_name)[0]


def run_suites(
    validations: list[tuple["pd.DataFrame", str, list]], *, docs: bool = False, run_name: str | None = None
) -> list[Outcome]:
    """Validate each (frame, suite name, expectations): in a fresh ephemeral context, or with ``docs`` in the
    file context (under its lock: the suite and its result are stored there), after which the data docs pages of
    these results and the index are built. ``run_name`` (a Dagster run id) names the results in the docs.
    Returns one :class:`Outcome` (counts only) per validation."""
    from great_expectations.core.run_identifier import RunIdentifier

    run_id = RunIdentifier(run_name=run_name or "journey", run_time=datetime.now(timezone.utc))
    if docs:
        from filelock import Timeout

        try:
            with _lock():
                context = _file_context()
                results = [_validate(context, df, name, expectations, run_id) for df, name, expectations in validations]
                outcomes = _outcomes(validations, results)  # raises before any page is built if GX returned values
                _build_pages(context, {name for _, name, _ in validations}, run_id)
            for outcome in outcomes:
                outcome.documented = True
            return outcomes
        except Timeout:
            pass  # the docs are busy (a burst of runs): validate without them rather than wait or fail
    context = _gx().get_context(mode="ephemeral")
    _quiet(context)
    return _outcomes(validations, [_validate(context, df, name, expectations, run_id) for df, name, expectations in validations])


def _outcomes(validations, results) -> list[Outcome]:
    outcomes = []
    for (df, name, _), result in zip(validations, results):
        outcome = Outcome(name, bool(result.success), len(df))
        for expectation_result in result.results:
            label, counts = _counts(expectation_result)
            outcome.expectations[label] = counts
        outcomes.append(outcome)
    return outcomes


def _validate(context, df, suite_name: str, expectations: list, run_id):
    gx = _gx()
    batch = context.data_sources.add_or_update_pandas("frames").add_dataframe_asset(suite_name)
    definition = batch.add_batch_definition_whole_dataframe("whole_frame")
    suite = gx.ExpectationSuite(name=suite_name)
    for e in expectations:
        suite.add_expectation(e.copy(deep=True) if hasattr(e, "copy") else e)
    suite = context.suites.add_or_update(suite)
    validation = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=suite_name, data=definition, suite=suite)
    )
    return validation.run(batch_parameters={"dataframe": df}, result_format=RESULT_FORMAT, run_id=run_id)


def _build_pages(context, suites: set[str], run_id) -> None:
    """Render the pages of ``suites`` and of their results of ``run_id`` (not every stored result again), drop
    the results (and their pages) beyond the newest ``DOCS_KEEP_PER_SUITE`` of each suite, rebuild the index."""
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    keys = context.validation_results_store.list_keys()
    new = [
        k for k in keys
        if k.expectation_suite_identifier.name in suites and k.run_id.run_name == run_id.run_name
        and k.run_id.run_time == run_id.run_time
    ]  # fmt: skip
    _prune(context, keys)
    context.build_data_docs(
        site_names=[DOCS_SITE], resource_identifiers=[*new, *(ExpectationSuiteIdentifier(name=s) for s in sorted(suites))]
    )


def _file_context():
    gx = _gx()
    root = gx_project_dir().parent
    root.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(root))
    _quiet(context)
    sites = context.get_config().data_docs_sites or {}
    wanted = str(docs_dir())
    site = sites.get(DOCS_SITE) or {}
    if (site.get("store_backend") or {}).get("base_directory") != wanted or len(sites) != 1:
        for name in list(sites):
            context.delete_data_docs_site(name)
        context.add_data_docs_site(
            DOCS_SITE,
            {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": wanted},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
    return context


def _lock():
    from filelock import FileLock

    data_dir().mkdir(parents=True, exist_ok=True)
    return FileLock(str(data_dir() / "gx.lock"), timeout=DOCS_LOCK_SECONDS)


def _prune(context, keys: list | None = None) -> None:
    """Keep the newest ``DOCS_KEEP_PER_SUITE`` validation results per suite (the sensor's runs add one each), and
    delete the data docs pages of the others."""
    store = context.validation_results_store
    by_suite: dict[str, list] = {}
    for key in store.list_keys() if keys is None else keys:
        by_suite.setdefault(key.expectation_suite_identifier.name, []).append(key)
    for suite_keys in by_suite.values():
        suite_keys.sort(key=lambda k: k.run_id.run_time, reverse=True)
        for key in suite_keys[DOCS_KEEP_PER_SUITE:]:
            store.remove_key(key)
            parts = key.to_tuple()
            docs_dir().joinpath("validations", *parts[:-1], f"{parts[-1]}.html").unlink(missing_ok=True)


def build_docs() -> Path:
    """(Re)build the whole data docs site from the results recorded so far; returns the index page (built even
    when nothing was recorded yet)."""
    with _lock():
        context = _file_context()
        _prune(context)
        context.build_data_docs(site_names=[DOCS_SITE])
    return docs_dir() / "index.html"


# -- export batches -------------------------------------------------------------------------------------------


def _text_columns(df: "pd.DataFrame") -> list[str]:
    """Columns holding text (every non-null value a str), where clear PII could hide."""
    out = []
    for column in df.columns:
        if column in NOT_SCANNED or column.startswith("_"):
            continue
        values = df[column].dropna()
        if len(values) and all(isinstance(v, str) for v in values):
            out.append(column)
    return out


def export_expectations(df: "pd.DataFrame", destination: str) -> list:
    """The expectations of one export batch frame for ``destination`` (see :func:`validate_export_batch`)."""
    if destination not in DESTINATIONS:
        raise ValueError(f"unknown destination {destination!r}; one of {', '.join(DESTINATIONS)}")
    typed = {**OUTBOX_COLUMNS, **DESTINATION_COLUMNS[destination], "consent": "bool"}
    out = []
    for column, type_ in typed.items():
        out.append(expectation("ColumnToExist", f"exists:{column}", column=column))
        if column in df.columns:
            out.append(expectation("ColumnValuesToBeOfType", f"type:{column}", column=column, type_=type_))
    present = set(df.columns)
    for column in ("idempotency_key", "person_id", "batch_id", "consent", *NOT_NULL[destination]):
        if column in present:
            out.append(expectation("ColumnValuesToNotBeNull", f"not_null:{column}", column=column))
    if "idempotency_key" in present:
        out.append(expectation("ColumnValuesToBeUnique", "unique:idempotency_key", column="idempotency_key"))
    if "destination" in present:
        out.append(expectation("ColumnValuesToBeInSet", "destination", column="destination", value_set=[destination]))
    if "kind" in present:
        out.append(expectation("ColumnValuesToBeInSet", "kind", column="kind", value_set=list(KINDS)))
    if "consent" in present:
        out.append(expectation("ColumnValuesToBeInSet", "consent_true", column="consent", value_set=[True]))
    for column in HASH_COLUMNS:  # any destination that carries them (a webhook may)
        if column in present:  # null is fine (no such contact): only a present hash must look like one
            out.append(expectation("ColumnValuesToMatchRegex", f"sha256:{column}", column=column, regex=SHA256_REGEX))
    if destination == "ad_audience":
        if "_any_contact_hash" in present:
            out.append(expectation("ColumnValuesToBeInSet", "a_contact_hash", column="_any_contact_hash", value_set=[True]))
    for column in _text_columns(df):
        out.append(expectation("ColumnValuesToNotMatchRegex", f"no_email:{column}", column=column, regex=EMAIL_REGEX))
        out.append(expectation("ColumnValuesToNotMatchRegex", f"no_phone:{column}", column=column, regex=PHONE_REGEX))
    return out


def _with_derived(df: "pd.DataFrame", destination: str) -> "pd.DataFrame":
    """The frame plus the columns some expectations need (GX has no row-level "one of two not null" for pandas)."""
    if destination == "ad_audience" and set(HASH_COLUMNS) <= set(df.columns):
        df = df.assign(_any_contact_hash=df["email_sha256"].notna() | df["phone_sha256"].notna())
    return df


def validate_export_batch(
    df: "pd.DataFrame", destination: str, *, docs: bool = False, run_name: str | None = None
) -> tuple[bool, dict]:
    """Validate one export batch before it leaves: ``df`` = the batch's outbox rows with ``payload`` expanded
    into columns (:func:`batch_frame`) and a ``consent`` column.

    Expectations: the outbox columns and the destination's (esp: ``esp_profile_id``, ``template``;
    ad_audience: ``audience``, ``email_sha256``, ``phone_sha256``) present and typed; ``idempotency_key``
    unique and not null; for ad_audience each hash 64 lower-case hex or null and at least one of them per row;
    for esp ``esp_profile_id`` not null; no text column with an e-mail address or a phone-like number; consent
    known and true on every row. Returns (passed, metadata): counts per expectation, never a value.
    """
    frame = _with_derived(df, destination)
    outcome = run_suite(
        frame, f"export_batch_{destination}", export_expectations(frame, destination), docs=docs, run_name=run_name
    )
    return outcome.passed, {"destination": destination, **outcome.metadata()}


def batch_frame(rows: list[dict], consent: dict[str, bool | None] | None = None) -> "pd.DataFrame":
    """The GX frame of outbox rows (``store.batch``): ``payload`` expanded into columns (a key that is also an
    outbox column becomes ``payload_<key>``; nested values become JSON text, so the PII scan reads them too) and
    a ``consent`` column from ``consent`` by person_id (None when unknown) when given."""
    import pandas as pd

    records = []
    for row in rows:
        record = {k: v for k, v in row.items() if k != "payload"}
        payload = row.get("payload") or {}
        if isinstance(payload, str):
            payload = json.loads(payload)
        for key, value in payload.items():
            name = f"payload_{key}" if key in row else key
            record[name] = json.dumps(value, sort_keys=True, default=str) if isinstance(value, (dict, list)) else value
        records.append(record)
    df = pd.DataFrame.from_records(records)
    # object columns keep None as None (not NaN): types are checked value by value
    df = df.astype({c: object for c in df.columns if df[c].dtype != bool and not pd.api.types.is_datetime64_any_dtype(df[c])})
    if consent is not None:
        df["consent"] = pd.Series([consent.get(p) for p in df.get("person_id", [])], index=df.index, dtype=object)
    return df


def read_consent(person_ids: Iterable[str], destination: str) -> dict[str, bool | None]:
    """Consent now for ``person_ids`` and ``destination``: ``marts.customer_360`` in the serving copy (read-only),
    and false for a person suppressed since (``exports.suppressions``: unsubscribed, erased). A person the
    serving copy does not know is None (unknown fails the check like false)."""
    import duckdb

    from activation import store
    from ingestion.config import serving_path

    column, purpose = CONSENT[destination]
    ids = sorted({p for p in person_ids if p})
    if not ids:
        return {}
    found: dict[str, bool | None] = {}
    path = serving_path()
    if path.exists():
        with duckdb.connect(str(path), read_only=True) as con:
            con.execute("create temp table wanted (person_id varchar)")
            con.executemany("insert into wanted values (?)", [(p,) for p in ids])
            for person_id, value in con.execute(
                f"select c.person_id, c.{column} from marts.customer_360 c join wanted using (person_id)"
            ).fetchall():
                found[person_id] = None if value is None else bool(value)
    for person_id in store.suppressed(ids, purpose):
        found[person_id] = False
    return found


def export_batch_check(asset_key, *, name: str = "export_batch_valid", description: str | None = None):
    """A BLOCKING asset check on an export batch asset: GX validates the batch it wrote (held in the outbox)
    before the release asset downstream can run. A failure stops that release in the same run, so the batch
    stays held and the delivery worker never sees it.

    The batch is the one this run wrote (``orchestration.lib.outbox.run_batch_id``); its rows come from
    ``activation.store.batch``; consent is read again now (:func:`read_consent`), not trusted from the writer.
    """
    key = dg.AssetKey.from_coercible(asset_key)

    @dg.asset_check(
        asset=key,
        name=name,
        blocking=True,
        description=description
        or "Great Expectations on the batch this asset wrote (held in exports.outbox): columns present and typed, "
        "idempotency keys unique, hashes well-formed, no clear e-mail or phone number, consent true now. Blocking: "
        "the release waits for it. Metadata: counts per expectation, never values.",
    )
    def _export_batch_check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        from activation import store

        from orchestration.lib.outbox import run_batch_id

        batch_id = run_batch_id(context, key)  # this run's batch: runs of the same job overlap
        if not batch_id:
            return dg.AssetCheckResult(passed=True, metadata={"messages": 0, "note": "no batch written"})
        rows = store.batch(str(batch_id))
        metadata: dict[str, Any] = {"batch_id": str(batch_id), "messages": len(rows)}
        passed, documented = True, False
        by_destination: dict[str, list[dict]] = {}
        for row in rows:
            by_destination.setdefault(row["destination"], []).append(row)
        unknown = sorted(set(by_destination) - set(DESTINATIONS))
        if unknown:
            passed = False
            metadata["unknown_destinations"] = ", ".join(unknown)
        for destination, group in sorted(by_destination.items()):
            if destination not in DESTINATIONS:
                continue
            consent = read_consent((r["person_id"] for r in group), destination)
            ok, result = validate_export_batch(
                batch_frame(group, consent), destination, docs=docs_enabled(), run_name=context.run.run_id
            )
            passed, documented = passed and ok, documented or result["documented"]
            prefix = f"{destination}/" if len(by_destination) > 1 else ""
            metadata.update(_dagster_metadata(result, prefix))
        metadata["held"] = sum(1 for r in rows if r.get("released_at") is None)
        if documented:
            metadata["gx_docs"] = dg.MetadataValue.path(str(docs_dir() / "index.html"))
        if not passed:
            context.log.error(f"Export batch {batch_id} failed validation: it stays held (not released).")
        return dg.AssetCheckResult(passed=passed, metadata=metadata)

    return _export_batch_check


def docs_enabled() -> bool:
    """Data docs are written by the checks unless ``JW_GX_DOCS=0``."""
    import os

    return os.environ.get("JW_GX_DOCS", "1") not in ("0", "false", "no")


def _dagster_metadata(result: dict, prefix: str = "") -> dict[str, Any]:
    """A validation's plain metadata (:meth:`Outcome.metadata`) as Dagster metadata: counts as numbers, the
    per-expectation table as JSON."""
    out: dict[str, Any] = {
        f"{prefix}rows": result["rows"],
        f"{prefix}expectations": result["expectations"],
        f"{prefix}failed_expectations": result["failed_expectations"],
        f"{prefix}results": dg.MetadataValue.json(result["results"]),
    }
    if result["failed"]:
        out[f"{prefix}failed"] = ", ".join(result["failed"])
        for label in result["failed"]:
            out[f"{prefix}unexpected/{label}"] = result["unexpected_counts"][label]
    return out


def matches(regex: str, text: str) -> bool:
    """Whether ``regex`` finds ``text`` (as GX's pandas regex expectations search); for tests and callers."""
    return re.search(regex, text) is not None
