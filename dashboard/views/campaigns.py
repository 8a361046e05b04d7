"""Campaigns: each e-mail campaign read as an experiment (its randomised holdout against the people it was sent to):
conversion rate and revenue per person of treated and held-out people, the uplift with its 95 % confidence interval,
and what the ESP counted (sends, opens, clicks). Reads marts.campaign_evaluation (the experiment) and
marts.campaign_performance (the ESP's counts and attributed revenue). The date range picks campaigns by their send
day; the channel and segment filters do not apply here (every campaign is e-mail, and its arms are whole audiences)."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboard.data import query, require, sidebar_filters

st.title("Campaigns")
filters = sidebar_filters()
if not require("campaign_evaluation", "campaign_performance"):
    st.stop()

TREATED, HOLDOUT = "#1f77b4", "#aaaaaa"

campaigns = query(
    """
    select
        evaluation.campaign_id,
        evaluation.campaign_name,
        evaluation.sent_at,
        evaluation.conversion_window_days,
        evaluation.is_window_complete,
        evaluation.treated_people,
        evaluation.holdout_people,
        evaluation.treated_converters,
        evaluation.holdout_converters,
        evaluation.treated_conversion_rate,
        evaluation.holdout_conversion_rate,
        evaluation.uplift,
        evaluation.uplift_ci_low,
        evaluation.uplift_ci_high,
        evaluation.revenue_per_treated,
        evaluation.revenue_per_holdout,
        evaluation.revenue_uplift,
        evaluation.revenue_uplift_ci_low,
        evaluation.revenue_uplift_ci_high,
        evaluation.sends,
        evaluation.opens,
        evaluation.clicks,
        performance.unique_openers,
        performance.unique_clickers,
        performance.unsubscribes,
        performance.attributed_revenue_linear
    from marts.campaign_evaluation as evaluation
    left join marts.campaign_performance as performance on evaluation.campaign_id = performance.campaign_id
    where cast(timezone('UTC', evaluation.sent_at) as date) between ? and ?
    order by evaluation.sent_at, evaluation.campaign_id
    """,
    (filters.start, filters.end),
)

st.caption(
    f"Campaigns sent {filters.start:%d %b %Y} to {filters.end:%d %b %Y}. Each campaign holds out a random share of its "
    "audience (sent nothing): the difference between the people it reached and those it held out is what the "
    "campaign caused. A conversion is a purchase online or in store within the conversion window after the e-mail "
    "(held out: after the send time). Channel and segment filters do not apply on this page."
)
if campaigns.empty:
    st.info("No campaign was sent in this date range. Widen the date range in the sidebar.")
    st.stop()

campaigns["label"] = campaigns["campaign_id"] + " · " + campaigns["campaign_name"].fillna("")
significant = campaigns[(campaigns["uplift_ci_low"] > 0) | (campaigns["uplift_ci_high"] < 0)]
columns = st.columns(4)
columns[0].metric("Campaigns", f"{len(campaigns):,}")
columns[1].metric("People treated", f"{int(campaigns['treated_people'].sum()):,}",
                  help="People the campaigns were sent to, summed over campaigns (resolved persons).")
columns[2].metric("People held out", f"{int(campaigns['holdout_people'].sum()):,}",
                  help="People held out of the campaigns (their control groups), summed over campaigns.")
columns[3].metric("Uplift significant", f"{len(significant)} of {len(campaigns)}",
                  help="Campaigns whose 95 % interval of the conversion uplift excludes zero.")

st.subheader("Treated vs holdout")
arms = pd.concat([
    pd.DataFrame({"campaign_id": campaigns["campaign_id"], "arm": arm,
                  "Conversion rate (%)": campaigns[rate] * 100, "Revenue per person (EUR)": campaigns[revenue]})
    for arm, rate, revenue in (("Treated", "treated_conversion_rate", "revenue_per_treated"),
                               ("Holdout", "holdout_conversion_rate", "revenue_per_holdout"))
])  # fmt: skip
arm_colors = alt.Scale(domain=["Treated", "Holdout"], range=[TREATED, HOLDOUT])


def arm_bars(measure: str) -> alt.Chart:
    return alt.Chart(arms, title=measure, height=300).mark_bar().encode(
        x=alt.X("campaign_id:N", title=None), xOffset=alt.XOffset("arm:N", sort=["Treated", "Holdout"]),
        y=alt.Y(f"{measure}:Q", title=None), color=alt.Color("arm:N", scale=arm_colors, title=None),
        tooltip=["campaign_id", "arm", alt.Tooltip(f"{measure}:Q", format=".2f")],
    )


left, right = st.columns(2)
left.altair_chart(arm_bars("Conversion rate (%)"), width="stretch", key="chart_arms_rate")
right.altair_chart(arm_bars("Revenue per person (EUR)"), width="stretch", key="chart_arms_revenue")

st.subheader("Uplift with 95 % confidence interval")


def uplift_chart(title: str, value: str, low: str, high: str, scale: float) -> alt.LayerChart:
    frame = pd.DataFrame({"campaign_id": campaigns["campaign_id"], "campaign_name": campaigns["campaign_name"],
                          "estimate": campaigns[value] * scale, "low": campaigns[low] * scale,
                          "high": campaigns[high] * scale})
    base = alt.Chart(frame, title=title, height=300).encode(x=alt.X("campaign_id:N", title=None))
    return alt.layer(
        base.mark_rule(color=TREATED).encode(y=alt.Y("low:Q", title=None), y2="high:Q"),
        base.mark_point(filled=True, size=90, color=TREATED).encode(
            y="estimate:Q",
            tooltip=["campaign_id", "campaign_name", alt.Tooltip("estimate:Q", format="+.2f"),
                     alt.Tooltip("low:Q", format="+.2f"), alt.Tooltip("high:Q", format="+.2f")],
        ),
        alt.Chart(pd.DataFrame({"zero": [0.0]})).mark_rule(strokeDash=[3, 3], color="grey").encode(y="zero:Q"),
    )


left, right = st.columns(2)
left.altair_chart(uplift_chart("Conversion uplift (percentage points)", "uplift", "uplift_ci_low", "uplift_ci_high", 100),
                  width="stretch", key="chart_uplift_rate")
right.altair_chart(uplift_chart("Revenue uplift (EUR per person)", "revenue_uplift", "revenue_uplift_ci_low",
                                "revenue_uplift_ci_high", 1), width="stretch", key="chart_uplift_revenue")
st.caption("Treated minus holdout; bars: 95 % intervals (conversion: Newcombe's hybrid score interval; revenue: "
           "Welch's). A bar crossing zero: no effect shown at this sample size.")

st.subheader("Per campaign")
table = pd.DataFrame({
    "Campaign": campaigns["campaign_id"],
    "Name": campaigns["campaign_name"],
    "Sent": pd.to_datetime(campaigns["sent_at"], utc=True).dt.strftime("%Y-%m-%d %H:%M"),
    "Sends": campaigns["sends"],
    "Opens": campaigns["opens"],
    "Clicks": campaigns["clicks"],
    "Treated": campaigns["treated_people"],
    "Holdout": campaigns["holdout_people"],
    "Conv. treated %": campaigns["treated_conversion_rate"] * 100,
    "Conv. holdout %": campaigns["holdout_conversion_rate"] * 100,
    "Uplift pp": campaigns["uplift"] * 100,
    "95 % CI low pp": campaigns["uplift_ci_low"] * 100,
    "95 % CI high pp": campaigns["uplift_ci_high"] * 100,
    "Rev./treated €": campaigns["revenue_per_treated"],
    "Rev./holdout €": campaigns["revenue_per_holdout"],
    "Rev. uplift €": campaigns["revenue_uplift"],
    "Window closed": campaigns["is_window_complete"],
})
st.dataframe(
    table, hide_index=True, width="stretch",
    column_config={name: st.column_config.NumberColumn(format="%.2f") for name in table.columns
                   if name.endswith(("%", "pp", "€"))},
)

st.subheader("One campaign")
picked = st.selectbox("Campaign", campaigns["label"].tolist(), index=len(campaigns) - 1, key="campaign_pick")
row = campaigns[campaigns["label"] == picked].iloc[0]


def share(part, whole) -> str:
    return f"{part / whole:.1%}" if whole else "–"


def interval(value, low, high, scale: float, unit: str) -> str:
    if pd.isna(value):
        return "–"
    bounds = "" if pd.isna(low) else f" (95 % CI {low * scale:+.2f} to {high * scale:+.2f})"
    return f"{value * scale:+.2f} {unit}{bounds}"


sent = pd.Timestamp(row["sent_at"]).tz_convert("UTC")
st.markdown(f"**{row['campaign_name']}**, sent {sent:%d %b %Y %H:%M} UTC, conversion window "
            f"{int(row['conversion_window_days'])} days" + ("" if row["is_window_complete"] else " (still open)"))
columns = st.columns(4)
columns[0].metric("Sends", f"{int(row['sends']):,}")
columns[1].metric("Opens", f"{int(row['opens']):,}", help="Every open; unique openers over sends is the open rate.")
columns[2].metric("Clicks", f"{int(row['clicks']):,}")
columns[3].metric("Open rate / click rate",
                  f"{share(row['unique_openers'] or 0, row['sends'])} / {share(row['unique_clickers'] or 0, row['sends'])}")
columns = st.columns(4)
columns[0].metric("Converted, treated", share(row["treated_converters"], row["treated_people"]),
                  help=f"{int(row['treated_converters'])} of {int(row['treated_people'])} people")
columns[1].metric("Converted, holdout", share(row["holdout_converters"], row["holdout_people"]),
                  help=f"{int(row['holdout_converters'])} of {int(row['holdout_people'])} people")
columns[2].metric("Revenue per person, treated", f"{row['revenue_per_treated'] or 0:,.2f} €")
columns[3].metric("Revenue per person, holdout", f"{row['revenue_per_holdout'] or 0:,.2f} €")
st.write(f"Conversion uplift: {interval(row['uplift'], row['uplift_ci_low'], row['uplift_ci_high'], 100, 'pp')}. "
         f"Revenue uplift: {interval(row['revenue_uplift'], row['revenue_uplift_ci_low'], row['revenue_uplift_ci_high'], 1, '€ per person')}. "
         f"Revenue attributed to it (linear model): {row['attributed_revenue_linear'] or 0:,.2f} €.")
