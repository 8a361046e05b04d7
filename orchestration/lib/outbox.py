"""Which outbox batch a step works on: the one its own run wrote.

A batch asset records its ``batch_id`` in its materialization metadata; its blocking check and its release run
in the same run. They must read *that run's* materialization, not the asset's latest: cart-abandonment runs
overlap (the sensor launches one per batch, several at once), and the latest materialization may be another
run's batch, which would then be validated or released in place of this one (seen in `journey bench activation`:
one run released its neighbour's batch and left its own held)."""

from __future__ import annotations

import dagster as dg


def run_batch_id(context, batch_key: dg.AssetKey) -> str | None:
    """The ``batch_id`` that ``batch_key`` recorded in this run; when this run did not materialize it (a check or a
    release launched on its own), the asset's latest materialization's. None when there is none."""
    events = context.instance.all_logs(context.run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    mine = [e.asset_materialization for e in events if e.asset_materialization and e.asset_materialization.asset_key == batch_key]
    if mine:
        materialization = mine[-1]
    else:
        event = context.instance.get_latest_materialization_event(batch_key)
        materialization = event.asset_materialization if event else None
    entry = (materialization.metadata or {}).get("batch_id") if materialization else None
    value = getattr(entry, "value", entry)
    return str(value) if value else None
