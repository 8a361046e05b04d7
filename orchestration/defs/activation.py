"""Real-time cart abandonment (``activation.offers``): a sensor reads the webhook inbox by cursor and, once a
checkout has been quiet for ``JW_ABANDON_QUIET_SECONDS`` without an order, launches ``cart_abandonment_job``:
the batch asset writes the messages held to the outbox, a blocking check validates the batch, the release asset
lets the delivery worker send it.

None of it touches the warehouse: the run reads the serving copy read-only and writes only the activation store, so
it runs in the in-process executor and outside the warehouse pool (a build holding the warehouse never delays it).
"""

import hashlib
import json
from datetime import datetime, timezone

import dagster as dg

from orchestration.lib.gx import export_batch_check
from orchestration.lib.outbox import run_batch_id

BATCH_KEY = dg.AssetKey(["exports", "cart_abandonment_batch"])
RELEASE_KEY = dg.AssetKey(["exports", "cart_abandonment_release"])
BATCH_OP = "exports__cart_abandonment_batch"
EVENTS_PER_TICK = 5000  # inbox events one tick reads at most (the rest on the next tick)
PAGE = 1000


class CartAbandonmentConfig(dg.Config):
    checkout_tokens: list[str] = []  # the checkouts the sensor found quiet; the run checks each again


@dg.asset(
    key=BATCH_KEY,
    group_name="activation",
    kinds={"python"},
    description=(
        "Cart-abandonment messages of one sensor batch, written HELD to exports.outbox (idempotency key "
        "cart_abandonment:<checkout token>): offers of similar products in stock, not in the cart, not bought, with "
        "the checkout's discount code; no message for unknown people, no e-mail consent, suppressed or erased people, "
        "the holdout, people over the frequency cap or without an ESP profile. Reads the serving copy read-only. "
        "Metadata: batch_id, messages, skipped reasons (counts only, no personal data)."
    ),
)
def cart_abandonment_batch(context: dg.AssetExecutionContext, config: CartAbandonmentConfig) -> dg.MaterializeResult:
    from activation import store
    from activation.offers import plan

    batch_id = f"cart_abandonment_batch:{context.run_id}"
    result = plan(config.checkout_tokens, batch_id)
    new = store.enqueue(result.messages)
    reasons = result.reasons()
    context.log.info(
        f"{len(config.checkout_tokens)} checkouts: {new} messages held in batch {batch_id} "
        f"({len(result.messages) - new} already in the outbox), skipped {reasons or 'none'}"
    )
    return dg.MaterializeResult(
        metadata={
            "batch_id": batch_id,
            "messages": new,  # the rows of this batch (a checkout messaged before keeps its first message)
            "planned": len(result.messages),
            "checkouts": len(config.checkout_tokens),
            "skipped": sum(reasons.values()),
            "skipped_reasons": dg.MetadataValue.json(reasons),
            **{f"skipped/{reason}": n for reason, n in reasons.items()},
        }
    )


def _batch_id(context: dg.AssetExecutionContext) -> str:
    """The batch this run wrote (its materialization of the batch asset, metadata ``batch_id``)."""
    batch_id = run_batch_id(context, BATCH_KEY)
    if batch_id is None:
        raise dg.Failure("no cart_abandonment_batch materialization with a batch_id to release")
    return batch_id


@dg.asset(
    key=RELEASE_KEY,
    group_name="activation",
    kinds={"python"},
    deps=[BATCH_KEY],
    description=(
        "Releases the cart-abandonment batch (store.release): only now may the delivery worker send it. Runs after "
        "the batch asset and its blocking check export_batch_valid, so a batch that fails validation never leaves."
    ),
)
def cart_abandonment_release(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    from activation import store

    batch_id = _batch_id(context)
    released = store.release(batch_id)
    context.log.info(f"Batch {batch_id}: {released} messages released")
    return dg.MaterializeResult(metadata={"batch_id": batch_id, "released": released})


# The blocking GX check export_batch_valid on the batch: the release depends on the batch, so a failed check skips it
# (a blocking check failing skips everything downstream in the run) and the messages stay held.
cart_abandonment_batch_valid = export_batch_check(BATCH_KEY)

cart_abandonment_job = dg.define_asset_job(
    name="cart_abandonment_job",
    selection=dg.AssetSelection.assets(BATCH_KEY, RELEASE_KEY),
    executor_def=dg.in_process_executor,
    description="One batch of abandoned checkouts: held messages, their validation, the release (launched by cart_abandonment_sensor).",
)


def _run_key(tokens: list[str], pending_events: list[int]) -> str:
    """The same batch (tokens and the inbox events that made them due) gets the same key: a tick that runs again
    with the old cursor launches nothing twice."""
    digest = hashlib.sha256(json.dumps([tokens, pending_events]).encode()).hexdigest()[:16]
    return f"cart_abandonment:{max(pending_events, default=0)}:{digest}"


@dg.sensor(
    name="cart_abandonment_sensor",
    job=cart_abandonment_job,
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Reads the webhook inbox by cursor (the last event_id examined, and the checkouts still in their quiet "
        "period); launches cart_abandonment_job for the checkouts quiet for JW_ABANDON_QUIET_SECONDS without an order."
    ),
)
def cart_abandonment_sensor(context: dg.SensorEvaluationContext):
    from activation import store
    from activation.offers import advance, quiet_seconds

    state = json.loads(context.cursor) if context.cursor else None
    after = int((state or {}).get("event_id", 0))
    events: list[dict] = []
    while len(events) < EVENTS_PER_TICK:
        page = store.webhooks_after(after, limit=PAGE)
        events.extend(page)
        if len(page) < PAGE:
            break
        after = page[-1]["event_id"]
    state, due = advance(state, events, datetime.now(timezone.utc), quiet_seconds())
    context.update_cursor(json.dumps(state, sort_keys=True))
    if not due:
        return dg.SkipReason(f"{len(events)} new inbox events; {len(state['pending'])} checkouts in their quiet period")
    tokens = sorted(due)
    return dg.RunRequest(
        run_key=_run_key(tokens, [due[t] for t in tokens]),
        run_config={"ops": {BATCH_OP: {"config": {"checkout_tokens": tokens}}}},
        tags={"activation/checkouts": str(len(due))},
    )
