"""Planned campaigns and ad audiences as outbox rows: read from the serving copy (``serving.duckdb``, published after
each build; never the warehouse, whose single writer the exports must not wait for), checked again for consent,
suppression and holdout, and shaped as INTERFACE10's payloads. The Dagster assets that enqueue and release them
are ``orchestration/defs/campaign_exports.py``.

Only ids and hashes leave: an audience row carries SHA-256 of the normalised e-mail and phone (the form Google's and
Meta's customer match expect), read from ``serving_pii.duckdb`` and hashed here, never written in clear.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from pathlib import Path

from ingestion import pseudonym

from . import definitions, store
from .holdout import in_holdout

E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
DEFAULT_COUNTRY_CODE = "49"  # national numbers (leading 0) of the demo shop's customers are German


def normalize_email(value: str | None) -> str | None:
    """Trimmed and lower-cased, as customer match expects (the warehouse's own normaliser,
    ``ingestion.pseudonym.normalize_email``, = dbt's macro); None when it is no address."""
    email = pseudonym.normalize_email(value)
    return email if email and "@" in email else None


def normalize_phone(value: str | None, country_code: str | None = None) -> str | None:
    """E.164: a leading + and 8 to 15 digits, from the warehouse's normalised phone (``ingestion.pseudonym``: trimmed,
    only digits and +). ``00`` becomes ``+``; a national number (one leading 0) gets ``$JW_DEFAULT_PHONE_COUNTRY_CODE``
    (default 49). Anything else (placeholders like 0000000000) is None."""
    digits = pseudonym.normalize_phone(value)
    if not digits:
        return None
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    elif digits.startswith("0"):
        digits = "+" + (country_code or os.environ.get("JW_DEFAULT_PHONE_COUNTRY_CODE") or DEFAULT_COUNTRY_CODE) + digits[1:]
    elif not digits.startswith("+"):
        digits = "+" + digits
    return digits if E164.match(digits) else None


def sha256_hex(value: str | None) -> str | None:
    return hashlib.sha256(value.encode()).hexdigest() if value else None


def _connect(path: Path):
    import duckdb

    return duckdb.connect(str(path), read_only=True)


def _records(con, sql: str, params: Iterable = ()) -> list[dict]:
    cursor = con.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def current_week(serving: Path) -> str | None:
    """The ISO week of the newest plan (the data's own "now", not the reader's clock); None without a plan."""
    with _connect(serving) as con:
        row = con.execute("select week from marts.campaign_plan order by planned_for desc, week desc limit 1").fetchone()
    return row[0] if row else None


def campaign_messages(serving: Path, batch_id: str, week: str | None = None, url: str | None = None) -> tuple[list[dict], dict]:
    """Outbox rows for the planned sends of ``week`` (default ``current_week``): consent to e-mail marketing read
    again from marts.customer_360, people suppressed for e-mail marketing (or erased) and any holdout dropped.
    Returns (messages, counts of what was planned and dropped why)."""
    campaigns = definitions.campaigns()
    week = week or current_week(serving)
    counts = {"planned": 0, "no_consent": 0, "suppressed": 0, "holdout": 0, "unknown_campaign": 0}
    if week is None:
        return [], counts
    with _connect(serving) as con:
        plan = _records(con, """
            select plan.campaign_id, plan.person_id, plan.esp_profile_id, plan.week, plan.planned_for, plan.destination,
                   plan.template, coalesce(people.consent_email_marketing, false) as consent
            from marts.campaign_plan as plan
            left join marts.customer_360 as people on plan.person_id = people.person_id
            where plan.week = ?
            order by plan.campaign_id, plan.person_id
        """, [week])  # fmt: skip
    counts["planned"] = len(plan)
    suppressed = store.suppressed([p["person_id"] for p in plan], "email_marketing", url=url)
    messages = []
    for row in plan:
        campaign = campaigns.get(row["campaign_id"])
        if campaign is None:
            counts["unknown_campaign"] += 1
        elif not row["consent"]:
            counts["no_consent"] += 1
        elif row["person_id"] in suppressed:
            counts["suppressed"] += 1
        elif in_holdout(row["person_id"], row["campaign_id"], campaign["holdout_share"]):
            counts["holdout"] += 1
        else:
            properties = {"week": row["week"], "planned_for": str(row["planned_for"])}
            if campaign.get("discount_percent") is not None:
                properties["discount_percent"] = campaign["discount_percent"]
            messages.append({
                "idempotency_key": f"campaign:{row['campaign_id']}:{row['person_id']}:{row['week']}",
                "destination": row["destination"],
                "kind": "campaign",
                "person_id": row["person_id"],
                "campaign_id": row["campaign_id"],
                "batch_id": batch_id,
                "payload": {
                    "esp_profile_id": row["esp_profile_id"],
                    "template": row["template"],
                    "campaign_id": row["campaign_id"],
                    "properties": properties,
                    "consent": True,  # consent_email_marketing read again for this batch (the GX check confirms it)
                },
            })  # fmt: skip
    return messages, counts


def audience_date(serving: Path) -> str | None:
    """The as-of date of the newest segment evaluation: the audience's batch date (the data's "today")."""
    with _connect(serving) as con:
        row = con.execute("select max(as_of_date) from marts.segment_membership").fetchone()
    return str(row[0]) if row and row[0] is not None else None


def audience_rows(serving: Path, serving_pii: Path, batch_id: str, url: str | None = None) -> tuple[list[dict], dict]:
    """Outbox rows for every ad-audience campaign (destination ad_audience): the treatment arm of its segment's
    current members (marts.campaign_assignments) with consent to ad audiences (marts.customer_360), not suppressed
    for ad audiences (or erased), with SHA-256 of their normalised e-mail and phone (people with neither are left
    out). Returns (rows, counts)."""
    import duckdb

    audiences = definitions.audience_campaigns()
    day = audience_date(serving)
    counts = {"members": 0, "no_consent": 0, "suppressed": 0, "holdout": 0, "no_contact": 0}
    if not audiences or day is None:
        return [], counts
    with _connect(serving) as con:
        members = _records(con, f"""
            select assignments.campaign_id, assignments.segment_id, assignments.person_id, assignments.arm,
                   coalesce(people.consent_ad_audiences, false) as consent
            from marts.campaign_assignments as assignments
            left join marts.customer_360 as people on assignments.person_id = people.person_id
            where assignments.campaign_id in ({", ".join("?" for _ in audiences)})
            order by assignments.campaign_id, assignments.person_id
        """, list(audiences))  # fmt: skip
    counts["members"] = len(members)
    suppressed = store.suppressed([m["person_id"] for m in members], "ad_audience", url=url)
    keep = []
    for m in members:
        if m["arm"] != "treatment" or in_holdout(m["person_id"], m["campaign_id"], audiences[m["campaign_id"]]["holdout_share"]):
            counts["holdout"] += 1
        elif not m["consent"]:
            counts["no_consent"] += 1
        elif m["person_id"] in suppressed:
            counts["suppressed"] += 1
        else:
            keep.append(m)
    contacts: dict[str, tuple] = {}
    if keep and serving_pii.exists():
        with duckdb.connect(str(serving_pii), read_only=True) as con:
            ids = sorted({m["person_id"] for m in keep})
            for person_id, email, phone in con.execute(
                f"select person_id, email, phone from pii.person_contacts where person_id in ({', '.join('?' for _ in ids)})", ids
            ).fetchall():
                contacts[person_id] = (sha256_hex(normalize_email(email)), sha256_hex(normalize_phone(phone)))
    rows = []
    for m in keep:
        email_sha256, phone_sha256 = contacts.get(m["person_id"], (None, None))
        if email_sha256 is None and phone_sha256 is None:
            counts["no_contact"] += 1
            continue
        rows.append({
            "idempotency_key": f"audience:{m['segment_id']}:{m['person_id']}:{day}",
            "destination": "ad_audience",
            "kind": "audience",
            "person_id": m["person_id"],
            "campaign_id": m["campaign_id"],
            "batch_id": batch_id,
            "payload": {"audience": m["segment_id"], "email_sha256": email_sha256, "phone_sha256": phone_sha256, "consent": True},
        })  # fmt: skip
    return rows, counts
