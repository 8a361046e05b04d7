"""Cohorts: the retention heatmap (marts.cohort_retention): customers grouped by the month of their first purchase,
the share (or number, or revenue) of them buying in each month since. The date range picks the cohorts; channels and
segments do not apply (cohorts are aggregated over every channel and person)."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from dashboard.data import query, require, sidebar_filters

st.title("Cohorts")
filters = sidebar_filters()
if not require("cohort_retention"):
    st.stop()

MEASURES = {"retention_rate": "Retention rate", "active_customers": "Active customers", "revenue": "Revenue (EUR)"}
top = st.columns([2, 2])
measure = top[0].segmented_control("Show", list(MEASURES), default="retention_rate", format_func=MEASURES.get,
                                   key="cohort_measure") or "retention_rate"
only_range = top[1].toggle("Only cohorts that started in the date range", value=False, key="cohorts_in_range",
                           help="Off: every cohort up to the end of the date range.")
if filters.channels or filters.segments:
    st.caption("Channel and segment filters do not apply here: cohorts count every customer's purchases.")

retention = query(
    """
    select cohort_month, months_since_first_purchase, customers, active_customers, cast(revenue as double) as revenue,
        retention_rate
    from marts.cohort_retention
    where cohort_month between (case when ? then date_trunc('month', cast(? as date)) else date '0001-01-01' end) and ?
        and activity_month <= ?
    order by cohort_month, months_since_first_purchase
    """,
    (only_range, filters.start, filters.end, filters.end),
)
if retention.empty:
    st.info("No cohort in this date range.")
    st.stop()

sizes = retention.groupby("cohort_month")["customers"].first()
columns = st.columns(3)
columns[0].metric("Cohorts", f"{len(sizes):,}")
columns[1].metric("Customers in them", f"{int(sizes.sum()):,}")
month_1 = retention[retention.months_since_first_purchase == 1]
if not month_1.empty:
    columns[2].metric("Month-1 retention", f"{month_1.active_customers.sum() / month_1.customers.sum():.1%}",
                      help="Customers buying again in the month after their first, over the cohorts that have one.")

grid = retention.pivot(index="cohort_month", columns="months_since_first_purchase", values=measure)
grid.index = [f"{month:%Y-%m} ({sizes[month]:,})" for month in grid.index]
later = retention[retention.months_since_first_purchase > 0][measure]
figure = px.imshow(
    grid, aspect="auto", color_continuous_scale="Blues", text_auto=".0%" if measure == "retention_rate" else ".3~s",
    labels={"x": "months since first purchase", "y": "cohort (customers)", "color": MEASURES[measure]},
    # the scale spans the months after the first (month 0 is every customer: it would wash the rest out)
    range_color=(0, float(later.max())) if measure != "revenue" and len(later) and later.max() > 0 else None,
)
figure.update_xaxes(side="top", dtick=1)
figure.update_yaxes(dtick=1)
figure.update_layout(height=max(400, 26 * len(grid) + 120))
st.subheader(f"{MEASURES[measure]} by cohort and month since first purchase")
st.plotly_chart(figure, key="retention_heatmap")
