"""Planned campaign exports (``activation.planned``): after each build's serving copy, the week's planned sends
(marts.campaign_plan) and the ad audiences (treated members of the audience campaigns' segments) go to the outbox
HELD; a blocking GX check validates each batch; the release assets then free it for the delivery worker.

They read the serving copy, not the warehouse (no warehouse pool: the next build is never held up), and write only
the activation store. Re-materializing the same week adds nothing: the outbox skips idempotency keys it has
(``campaign:<campaign_id>:<person_id>:<ISO week>``, ``audience:<segment_id>:<person_id>:<batch date>``)."""

import dagster as dg

from ingestion.config import serving_path, serving_pii_path
from orchestration.lib.gx import export_batch_check
from orchestration.lib.outbox import run_batch_id

CAMPAIGN_BATCH = dg.AssetKey(["exports", "campaign_batch"])
CAMPAIGN_RELEASE = dg.AssetKey(["exports", "campaign_release"])
AD_AUDIENCE_BATCH = dg.AssetKey(["exports", "ad_audience_batch"])
AD_AUDIENCE_RELEASE = dg.AssetKey(["exports", "ad_audience_release"])
SERVING_COPY = dg.AssetKey("serving_copy")


def _batch_result(batch_id: str, enqueued: int, total: int, counts: dict) -> dg.MaterializeResult:
    """``messages``: new outbox rows of this batch (rows already there under their key are skipped);
    ``candidates``: rows built; the read count (``planned`` or ``members``) and ``dropped/<reason>``."""
    metadata = {"batch_id": batch_id, "messages": enqueued, "candidates": total}
    for reason, n in counts.items():
        metadata[reason if reason in ("planned", "members") else f"dropped/{reason}"] = n
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    key=CAMPAIGN_BATCH,
    group_name="exports",
    kinds={"duckdb", "sqlite"},
    deps=[SERVING_COPY],
    description=(
        "The current ISO week's planned sends (marts.campaign_plan in the serving copy) as held outbox rows "
        "(destination esp, payload esp_profile_id/template/campaign_id/properties, no clear PII); consent to e-mail "
        "marketing, suppressions and holdouts checked again. Metadata: batch_id, messages."
    ),
)
def campaign_batch(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    from activation import planned, store

    batch_id = f"campaign_batch:{context.run_id}"
    messages, counts = planned.campaign_messages(serving_path(), batch_id)
    enqueued = store.enqueue(messages)
    context.log.info(f"Campaign batch {batch_id}: {enqueued} new held messages of {len(messages)} ({counts}).")
    return _batch_result(batch_id, enqueued, len(messages), counts)


@dg.asset(
    key=AD_AUDIENCE_BATCH,
    group_name="exports",
    kinds={"duckdb", "sqlite"},
    deps=[SERVING_COPY],
    description=(
        "The ad audiences (campaigns with destination ad_audience): treated current members of their segments with "
        "consent to ad audiences, as held outbox rows carrying only SHA-256 of the normalised e-mail and E.164 phone "
        "(read from serving_pii.duckdb). Metadata: batch_id, messages."
    ),
)
def ad_audience_batch(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    from activation import planned, store

    batch_id = f"ad_audience_batch:{context.run_id}"
    rows, counts = planned.audience_rows(serving_path(), serving_pii_path(), batch_id)
    enqueued = store.enqueue(rows)
    context.log.info(f"Ad audience batch {batch_id}: {enqueued} new held rows of {len(rows)} ({counts}).")
    return _batch_result(batch_id, enqueued, len(rows), counts)


def _release(context: dg.AssetExecutionContext, batch_key: dg.AssetKey) -> dg.MaterializeResult:
    from activation import store

    batch_id = run_batch_id(context, batch_key)
    released = store.release(batch_id) if batch_id else 0
    context.log.info(f"Released {released} messages of {batch_id}.")
    return dg.MaterializeResult(metadata={"batch_id": batch_id or "", "released": released})


@dg.asset(
    key=CAMPAIGN_RELEASE,
    group_name="exports",
    kinds={"sqlite"},
    deps=[CAMPAIGN_BATCH],
    description="Releases the latest campaign batch (store.release) once its blocking check passed: the delivery worker may send it.",
)
def campaign_release(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return _release(context, CAMPAIGN_BATCH)


@dg.asset(
    key=AD_AUDIENCE_RELEASE,
    group_name="exports",
    kinds={"sqlite"},
    deps=[AD_AUDIENCE_BATCH],
    description="Releases the latest ad audience batch (store.release) once its blocking check passed.",
)
def ad_audience_release(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return _release(context, AD_AUDIENCE_BATCH)


# The blocking GX checks: a batch that fails stays held (its release is skipped).
campaign_batch_valid, ad_audience_batch_valid = export_batch_check(CAMPAIGN_BATCH), export_batch_check(AD_AUDIENCE_BATCH)
