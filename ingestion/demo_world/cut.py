"""A demo world as it stood at an earlier instant: :func:`until` cuts a :class:`World` at ``end``.

What an incremental load sees on day D is the world cut at the end of day D; on day D+1 the whole world. The cut
keeps every record that existed before ``end``, by the time the source system knows it:

- events and facts by the time they happened or were received: storefront events by ``collector_tstamp`` (when the
  collector received them, so a late phone's events arrive on a later day), ESP events by ``datetime``, social
  interactions by ``created_time``, receipts by ``purchased_at``, points by ``created_at``, consents by
  ``decided_at``, IoT readings by ``recorded_at`` and consent changes by ``updated_at``, Shopify records
  (customers, orders, checkouts, reviews, products, customer events) by ``created_at``;
- mutable rows (customers, orders, profiles, members...) that existed at ``end`` but changed after it: the world
  keeps only their last state, not their history. Where it keeps the history it is used (the IoT registry and
  its changes; consent: an ESP unsubscribe or a shop opt-in decided after ``end`` is undone, the profile subscribed
  by its last decision before ``end``); otherwise the row keeps its values and its update time is set back to its
  creation time (an order closed or refunded after ``end`` is open and paid then). No update time at or after
  ``end`` survives, so no incremental cursor moves past ``end`` and the full world's changes are read again later;
- late tills (``loyalty_late``): their receipts and points before ``end``, still waiting to sync;
- the history export (orders before the window) whole;
- the truth cut likewise: identifiers (``ground_truth``) of the records that exist at ``end`` (an IoT device's while
  its consent holds at ``end``), the journeys of the events received, texts written, purchases made, consent
  decisions taken and campaigns sent before ``end``; ``consent_truth`` recomputed from the decisions kept.

``until(world, world.end)`` is (a copy of) the world itself: the generator clamps a few times to its end, which
belong to it. Cuts never change ``world``.
"""

from __future__ import annotations

import copy
import math
from datetime import datetime, timezone
from typing import Any, Callable

from ..sources._contracts import normalize_identifier
from .generator import World, normalize_email, normalize_handle

Row = dict[str, Any]
SOCIAL_TABLES = ("comments", "tags", "reactions", "sharedposts", "checkins")


def at(value: Any) -> datetime | None:
    """A time field of any of the world's formats as an aware UTC datetime (naive = UTC, as the POS stores it)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(timezone.utc)


def _attrs(row: Row) -> Row:
    return row["attributes"]


def _flat(row: Row) -> Row:
    return row


# (system, table) -> (the part of the row holding the times, the creation/occurrence field, update fields set back
# to the creation time when at or after ``end``)
CUTS: dict[tuple[str, str], tuple[Callable[[Row], Row], str, tuple[str, ...]]] = {
    ("shop", "customers"): (_flat, "created_at", ("updated_at",)),
    ("shop", "orders"): (_flat, "created_at", ("updated_at",)),
    ("shop", "abandoned_checkouts"): (_flat, "created_at", ("updated_at",)),
    ("shop", "events"): (_flat, "collector_tstamp", ()),
    ("shop", "customer_events"): (_flat, "created_at", ()),
    ("shop", "deleted_customers"): (_flat, "created_at", ("updated_at",)),
    ("shop", "products"): (_flat, "created_at", ("updated_at",)),
    ("shop", "reviews"): (_flat, "created_at", ("updated_at",)),
    ("esp", "campaigns"): (_attrs, "created_at", ("updated_at",)),
    ("esp", "campaign_messages"): (_attrs, "created_at", ("updated_at",)),
    ("esp", "metrics"): (_attrs, "created", ("updated",)),
    ("esp", "profiles"): (_attrs, "created", ("updated",)),
    ("esp", "events"): (_attrs, "datetime", ()),
    ("social", "posts"): (_flat, "created_time", ("updated_time",)),
    **{("social", t): (_flat, "created_time", ("updated_time",)) for t in SOCIAL_TABLES},
    ("loyalty", "members"): (_flat, "joined_at", ("updated_at",)),
    ("loyalty", "cards"): (_flat, "issued_at", ("updated_at",)),
    ("loyalty", "receipts"): (_flat, "purchased_at", ("updated_at",)),
    ("loyalty", "points"): (_flat, "created_at", ("updated_at",)),
    ("loyalty", "consents"): (_flat, "decided_at", ("updated_at",)),
    ("iot", "devices"): (_flat, "registered_at", ("updated_at",)),
    ("iot", "device_changes"): (_flat, "updated_at", ()),
    ("iot", "readings"): (_flat, "recorded_at", ()),
}


def _before(value: Any, end: datetime) -> bool:
    moment = at(value)
    return moment is not None and moment < end


def _cut_rows(system: str, table: str, rows: list[Row], end: datetime) -> list[Row]:
    if (system, table) not in CUTS:
        raise KeyError(f"cut: no rule for {system}.{table} (add its time fields to demo_world.cut.CUTS)")
    part, created, updates = CUTS[(system, table)]
    kept = []
    for row in rows:
        if not _before(part(row).get(created), end):
            continue
        if any(part(row).get(f) is not None and not _before(part(row)[f], end) for f in updates) or _has_later(row, end):
            row = copy.deepcopy(row)
            _set_back(system, table, row, part(row), created, updates, end)
        kept.append(row)
    return kept


def _has_later(row: Row, end: datetime) -> bool:
    """Times inside a row other than its own update field that may lie after ``end``."""
    for key in ("closed_at", "deleted_at", "accepts_marketing_updated_at", "completed_at", "cancelled_at"):
        if row.get(key) is not None and not _before(row[key], end):
            return True
    for variant in row.get("variants") or ():
        if not _before(variant.get("updated_at"), end):
            return True
    attributes = row.get("attributes")
    if isinstance(attributes, dict):
        if not _before(attributes.get("send_time") or attributes.get("created_at") or attributes.get("created"), end):
            return True
        marketing = (((attributes.get("subscriptions") or {}).get("email") or {}).get("marketing")) or {}
        if marketing.get("consent_timestamp") and not _before(marketing["consent_timestamp"], end):
            return True
    return False


def _set_back(system: str, table: str, row: Row, part: Row, created: str, updates: tuple[str, ...], end: datetime) -> None:
    for field_name in updates:
        if part.get(field_name) is not None and not _before(part[field_name], end):
            part[field_name] = part[created]
    if system == "shop" and table == "orders" and row.get("closed_at") and not _before(row["closed_at"], end):
        row["closed_at"] = None  # not yet fulfilled and archived
        if row.get("financial_status") == "refunded":
            row["financial_status"] = "paid"
    if row.get("deleted_at") is not None and not _before(row["deleted_at"], end):
        row["deleted_at"] = None
    if system == "shop" and table == "customers":
        if row.get("accepts_marketing_updated_at") and not _before(row["accepts_marketing_updated_at"], end):
            row["accepts_marketing"], row["accepts_marketing_updated_at"], row["marketing_opt_in_level"] = False, None, None
    for variant in row.get("variants") or ():
        if not _before(variant.get("updated_at"), end):
            variant["updated_at"] = row[created]
    if system == "esp" and table == "campaigns" and not _before(part.get("send_time"), end):
        part["status"] = "Scheduled"  # created, to be sent after ``end``
        part["send_time"] = None


def _cut_profiles(profiles: list[Row], decisions: list[Row], end: datetime) -> None:
    """ESP profiles whose consent changed after ``end``: subscribed by their last decision before ``end`` (none:
    never subscribed yet, a double opt-in not confirmed); a profile's update time is at least its consent's."""
    last: dict[str, Row] = {}
    for decision in decisions:
        if decision["source_system"] == "esp" and at(decision["decided_at"]) < end:
            current = last.get(decision["record"])
            if current is None or at(decision["decided_at"]) >= at(current["decided_at"]):
                last[decision["record"]] = decision
    for profile in profiles:
        attributes = profile["attributes"]
        marketing = attributes["subscriptions"]["email"]["marketing"]
        if not marketing.get("consent_timestamp") or _before(marketing["consent_timestamp"], end):
            continue
        decision = last.get(profile["id"])
        if decision is None:  # signed up, not yet confirmed from the e-mail
            marketing.update(consent="NEVER_SUBSCRIBED", consent_timestamp=None)
        else:
            marketing.update(
                consent="SUBSCRIBED" if decision["granted"] else "UNSUBSCRIBED",
                consent_timestamp=at(decision["decided_at"]).isoformat(timespec="seconds"),
                method="FORM" if decision["granted"] else marketing.get("method"),
            )
    for profile in profiles:  # the profile changed when its consent did (as in the generator)
        attributes = profile["attributes"]
        consent_at = attributes["subscriptions"]["email"]["marketing"].get("consent_timestamp")
        if consent_at and at(consent_at) > at(attributes["updated"]):
            attributes["updated"] = consent_at


def _opted_in_devices(iot: dict[str, list[Row]]) -> set[str]:
    state: dict[str, tuple[datetime, bool]] = {}
    for row in [*iot.get("devices", []), *iot.get("device_changes", [])]:
        moment = at(row["updated_at"])
        if row["device_id"] not in state or moment >= state[row["device_id"]][0]:
            state[row["device_id"]] = (moment, row["opted_in"])
    return {device for device, (_, opted) in state.items() if opted}


def _email(value: str | None) -> str | None:
    return normalize_email(normalize_identifier(value)) if value else None


def _identifiers(world: World) -> dict[str, set[str] | None]:
    """Per identifier type, the identifiers the world's records hold (None: keep every truth row of the type)."""
    handles = {normalize_handle((r.get("from") or {}).get("username")) for t in SOCIAL_TABLES for r in world.social.get(t, [])}
    handles |= {normalize_handle(c.get("social_handle")) for c in world.shop.get("customers", [])}
    return {
        "shop_customer": {str(c["id"]) for c in world.shop.get("customers", [])},
        "esp_contact": {_email(p["attributes"].get("email")) for p in world.esp.get("profiles", [])},
        "loyalty_member": {m["member_id"] for m in world.loyalty.get("members", [])},
        "loyalty_card": {c["card_number"] for c in world.loyalty.get("cards", [])},
        "social_handle": handles - {None},
        "iot_device": _opted_in_devices(world.iot),
        "history_email": None,  # the history export is kept whole
    }


def _latest_consents(decisions: list[Row]) -> list[Row]:
    latest: dict[tuple[str, str], Row] = {}
    for decision in decisions:  # as the generator: the latest decision; at the same moment a withdrawal wins
        key = (decision["person_id"], decision["purpose"])
        current = latest.get(key)
        if current is None or (decision["decided_at"], not decision["granted"]) > (current["decided_at"], not current["granted"]):
            latest[key] = decision
    return [{k: d[k] for k in ("person_id", "purpose", "granted", "decided_at", "source_system")} for _, d in sorted(latest.items())]


def until(world: World, end: datetime) -> World:
    """The world as it stood at ``end`` (aware, or naive = UTC). ``world`` itself is left as it is."""
    end = at(end)
    if end >= world.end:  # the whole world (a few of its times are its end itself: clamped there)
        return copy.deepcopy(world)
    cut = copy.copy(world)
    cut.end = end
    cut.days = max(math.ceil((end - world.start).total_seconds() / 86_400), 0)
    for system in ("shop", "esp", "social", "loyalty", "iot"):
        setattr(cut, system, {t: _cut_rows(system, t, rows, end) for t, rows in getattr(world, system).items()})
    cut.loyalty_late = {t: _cut_rows("loyalty", t, rows, end) for t, rows in world.loyalty_late.items()}
    cut.consent_decisions = [d for d in world.consent_decisions if at(d["decided_at"]) < end]
    cut.consent_truth = _latest_consents(cut.consent_decisions)
    _cut_profiles(cut.esp.get("profiles", []), world.consent_decisions, end)
    present = _identifiers(cut)
    cut.ground_truth = [
        t for t in world.ground_truth
        if present.get(t["identifier_type"]) is None or t["identifier_value"] in present[t["identifier_type"]]
    ]
    received = {e["event_id"] for e in cut.shop.get("events", [])}
    cut.journeys = [j for j in world.journeys if j["event_id"] in received]
    cut.text_truth = [t for t in world.text_truth if at(t["occurred_at"]) < end]
    cut.value_transactions = [t for t in world.value_transactions if at(t["purchased_at"]) < end]
    cut.campaign_truth = [c for c in world.campaign_truth if at(c["sent_at"]) < end]
    # kept whole: the history export and its bad rows, the value process's parameters and draws
    cut.history, cut.history_bad = world.history, world.history_bad
    cut.value_params, cut.value_people = world.value_params, world.value_people
    return cut
