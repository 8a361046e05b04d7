"""Customer lookup: one person's 360 (marts.customer_360, its traits in the model's trait groups), consent state,
and timeline (marts.touchpoints and marts.journey_sessions, most recent first, capped).

Personal data (names, e-mail, phone, address: pii.person_contacts) lives in a file of its own next to the serving
copy (``pii_path()``, owner-only). It is opened, read-only and only for the person shown, when the viewer turns on
"Show personal data"; until then the contact fields are masked and the file is not read. Search is by person_id,
and by e-mail address only while personal data is shown. Nothing personal is cached, logged or put in the URL.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import duckdb
import pandas as pd
import streamlit as st
import yaml

from dashboard.data import pii_path, query, require, tables

TIMELINE_ROWS = 200
SESSION_ROWS = 50
MASK = "•••"
CONTACT_FIELDS = (("first_name", "First name"), ("last_name", "Last name"), ("email", "E-mail"), ("phone", "Phone"),
                  ("postcode", "Postcode"), ("city", "City"), ("social_handle", "Social handle"))
GROUPS = ("identity", "consent", "journey", "value", "experience")
MARTS_YML = Path(__file__).resolve().parents[2] / "dbt_project" / "models" / "marts" / "_marts.yml"


@lru_cache(maxsize=1)
def trait_groups() -> dict[str, str]:
    """customer_360's column -> trait group (column meta ``trait_group`` in the model's YAML)."""
    try:
        models = yaml.safe_load(MARTS_YML.read_text())["models"]
    except (OSError, KeyError, yaml.YAMLError):
        return {}
    model = next((m for m in models if m.get("name") == "customer_360"), {})
    return {c["name"]: (c.get("meta") or {}).get("trait_group", "other") for c in model.get("columns", [])}


def contacts(person_id: str | None = None, email: str | None = None) -> pd.DataFrame | None:
    """The person's contact row from the pii file (by person_id or by e-mail), or None when the file is missing.
    Read-only, short-lived, never cached: the file is opened only while the viewer shows personal data."""
    path = pii_path()
    if not path.exists():
        return None
    with duckdb.connect(str(path), read_only=True) as con:
        if email is not None:
            return con.execute("select * from pii.person_contacts where email = lower(trim(?)) order by person_id",
                               [email]).df()
        return con.execute("select * from pii.person_contacts where person_id = ?", [person_id]).df()


st.title("Customer lookup")
if not require("customer_360", "touchpoints", "journey_sessions"):
    st.stop()

show_pii = st.toggle("Show personal data", value=False, key="show_pii",
                     help="Names, e-mail, phone and address from the pii file; off by default. Turn it on only "
                          "with a reason to see them (a customer's request, a service case).")
search = st.text_input(
    "person_id or e-mail" if show_pii else "person_id",
    key="lookup_query",
    placeholder="person_id, or an e-mail address" if show_pii else "person_id (turn on personal data to search by e-mail)",
).strip()

if not search:
    st.info("Enter a person_id" + (" or an e-mail address" if show_pii else "") + " to look a person up.")
    examples = query(
        """
        select person_id, lifecycle_stage, rfm_segment, total_revenue, sessions
        from marts.customer_360
        order by total_revenue desc, person_id
        limit 10
        """
    )
    st.caption("People with the most revenue, to start from:")
    st.dataframe(examples, hide_index=True, key="lookup_examples")
    st.stop()

person_id = search
if "@" in search:
    if not show_pii:
        st.warning("Searching by e-mail needs personal data: turn on \"Show personal data\".")
        st.stop()
    found = contacts(email=search)
    if found is None:
        st.info(f"No personal data file at `{pii_path()}`: materialize `person_contacts` and then `serving_copy`.")
        st.stop()
    if found.empty:
        st.warning("No person has this e-mail address.")
        st.stop()
    if len(found) > 1:
        person_id = st.selectbox("Several people have this address", found["person_id"].tolist(), key="lookup_pick")
    else:
        person_id = found["person_id"].iloc[0]

person = query("select * from marts.customer_360 where person_id = ?", (person_id,))
if person.empty:
    st.warning("No person with this person_id in marts.customer_360.")
    st.stop()
row = person.iloc[0]

st.subheader(f"Person {person_id}")
columns = st.columns(5)
columns[0].metric("Lifecycle stage", str(row.get("lifecycle_stage") or "–"))
columns[1].metric("RFM segment", str(row.get("rfm_segment") or "–"))
columns[2].metric("Total revenue", f"€{float(row.get('total_revenue') or 0):,.2f}")
columns[3].metric("Sessions", f"{int(row.get('sessions') or 0):,}")
columns[4].metric("Engagement", str(row.get("engagement_tier") or "–"))

st.markdown("**Contact**" + ("" if show_pii else " (masked: turn on \"Show personal data\" to see it)"))
if show_pii:
    contact = contacts(person_id=person_id)
    if contact is None:
        st.info(f"No personal data file at `{pii_path()}`: materialize `person_contacts` and then `serving_copy`.")
        values = {}
    else:
        values = contact.iloc[0].to_dict() if not contact.empty else {}
    shown = {label: ("" if values.get(field) is None or pd.isna(values.get(field)) else str(values[field]))
             for field, label in CONTACT_FIELDS}
else:
    shown = {label: MASK for _, label in CONTACT_FIELDS}
st.dataframe(pd.DataFrame([shown]), hide_index=True, key="contact")

groups = trait_groups()
by_group: dict[str, list[tuple[str, str]]] = {}
for column, value in row.items():
    if column == "person_id":
        continue
    text = "" if value is None or (not isinstance(value, (list, tuple)) and pd.isna(value)) else str(value)
    by_group.setdefault(groups.get(column, "other"), []).append((column, text))
names = [g for g in GROUPS if g in by_group] + sorted(set(by_group) - set(GROUPS))
for tab, name in zip(st.tabs([name.capitalize() for name in names]), names):
    tab.dataframe(pd.DataFrame(by_group[name], columns=["trait", "value"]), hide_index=True,
                  key=f"traits_{name}", width="stretch")

st.subheader("Consent")
if "marts.consent_current" in tables():
    consent = query(
        """
        select purpose, granted, decided_at, source_system, decisions
        from marts.consent_current where person_id = ? order by purpose
        """,
        (person_id,),
    )
    if consent.empty:
        st.caption("No consent decision recorded for this person.")
    else:
        st.dataframe(consent, hide_index=True, key="consent",
                     column_config={"decided_at": st.column_config.DatetimeColumn("Decided (UTC)", format="YYYY-MM-DD HH:mm")})
else:
    consent = pd.DataFrame(by_group.get("consent", []), columns=["trait", "value"])
    st.dataframe(consent, hide_index=True, key="consent")

st.subheader("Timeline")
left, right = st.columns([3, 2])
timeline = query(
    f"""
    select occurred_at, touchpoint_type, channel, source, medium, campaign, product_id, revenue
    from marts.touchpoints
    where person_id = ?
    order by occurred_at desc, touchpoint_id desc
    limit {TIMELINE_ROWS + 1}
    """,
    (person_id,),
)
left.markdown(f"**Touchpoints** (most recent first{', the latest ' + str(TIMELINE_ROWS) if len(timeline) > TIMELINE_ROWS else ''})")
left.dataframe(timeline.head(TIMELINE_ROWS), hide_index=True, key="timeline",
               column_config={"occurred_at": st.column_config.DatetimeColumn("When (UTC)", format="YYYY-MM-DD HH:mm:ss")})
sessions = query(
    f"""
    select session_start, session_end, touchpoints, channel_list, entry_channel, entry_source, landing_page,
        converted, revenue
    from marts.journey_sessions
    where person_id = ?
    order by session_start desc
    limit {SESSION_ROWS + 1}
    """,
    (person_id,),
)
right.markdown(f"**Sessions** (most recent first{', the latest ' + str(SESSION_ROWS) if len(sessions) > SESSION_ROWS else ''})")
right.dataframe(sessions.head(SESSION_ROWS), hide_index=True, key="sessions",
                column_config={"session_start": st.column_config.DatetimeColumn("Start (UTC)", format="YYYY-MM-DD HH:mm"),
                               "session_end": st.column_config.DatetimeColumn("End (UTC)", format="YYYY-MM-DD HH:mm")})
