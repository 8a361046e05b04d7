"""Customer value: the 12-month CLV distribution (marts.customer_clv), by RFM segment (marts.customer_rfm) and by
cohort (first-purchase month, marts.customer_360.cohort_month), the lifecycle stage flow (marts.lifecycle_transitions)
and the CLV backtest (marts.clv_backtest). The segment filter applies to the CLV charts, the date range to the
lifecycle flow (months of the moves); channels do not apply (value is per person, across channels)."""

from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from dashboard.data import query, require, sidebar_filters

st.title("Customer value")
filters = sidebar_filters()
if not require("customer_clv", "customer_rfm", "lifecycle_transitions", "clv_backtest", "customer_360"):
    st.stop()

where, params = filters.segment_clause("rfm.segment")
clv = query(
    f"""
    select
        cast(clv.clv_12m as double) as clv_12m,
        coalesce(rfm.segment, '(none)') as segment,
        c360.cohort_month
    from marts.customer_clv as clv
    left join marts.customer_rfm as rfm on clv.person_id = rfm.person_id
    left join marts.customer_360 as c360 on clv.person_id = c360.person_id
    where clv.clv_12m is not null and {where}
    """,
    params,
)

st.subheader("CLV distribution (12 months)")
if clv.empty:
    st.info("No customer has a CLV prediction (in the chosen segments): the production fit may have failed, see marts.clv_model_runs.")
else:
    columns = st.columns(4)
    columns[0].metric("Customers", f"{len(clv):,}")
    columns[1].metric("Mean 12-month CLV", f"€{clv.clv_12m.mean():,.2f}")
    columns[2].metric("Median", f"€{clv.clv_12m.median():,.2f}")
    columns[3].metric("Sum", f"€{clv.clv_12m.sum():,.0f}")
    upper = clv.clv_12m.quantile(0.99)
    st.plotly_chart(
        px.histogram(clv[clv.clv_12m <= upper], x="clv_12m", nbins=60, labels={"clv_12m": "12-month CLV (EUR)"}),
        key="clv_histogram",
    )
    st.caption(f"Up to the 99th percentile (€{upper:,.0f}); {int((clv.clv_12m > upper).sum())} customers above it left out of the plot.")

    left, right = st.columns(2)
    by_segment = (clv.groupby("segment")["clv_12m"].agg(customers="count", mean_clv="mean", total_clv="sum")
                  .reset_index().sort_values("mean_clv", ascending=False))
    left.subheader("By RFM segment")
    left.plotly_chart(px.bar(by_segment, x="segment", y="mean_clv", hover_data=["customers", "total_clv"],
                             labels={"mean_clv": "mean 12-month CLV (EUR)", "segment": ""}), key="clv_by_segment")
    by_cohort = (clv.dropna(subset=["cohort_month"]).groupby("cohort_month")["clv_12m"]
                 .agg(customers="count", mean_clv="mean").reset_index())
    right.subheader("By cohort (first-purchase month)")
    right.plotly_chart(px.bar(by_cohort, x="cohort_month", y="mean_clv", hover_data=["customers"],
                              labels={"mean_clv": "mean 12-month CLV (EUR)", "cohort_month": ""}), key="clv_by_cohort")

st.subheader("Lifecycle stage flow")
flow = query(
    """
    select from_stage, to_stage, sum(persons) as persons
    from marts.lifecycle_transitions
    where month between date_trunc('month', cast(? as date)) and ?
    group by 1, 2
    order by 3 desc
    """,
    (filters.start, filters.end),
)
if flow.empty:
    st.info("No lifecycle moves in the months of this date range.")
else:
    stages = sorted(set(flow.from_stage) | set(flow.to_stage))
    node = {stage: i for i, stage in enumerate(stages)}
    count = len(stages)
    # stages left on the left, stages entered on the right
    figure = go.Figure(go.Sankey(
        node={"label": [*stages, *stages], "pad": 12},
        link={"source": [node[s] for s in flow.from_stage], "target": [count + node[s] for s in flow.to_stage],
              "value": flow.persons.tolist()},
    ))
    st.plotly_chart(figure, key="lifecycle_sankey")
    st.caption(f"People moving between stages in the months {filters.start:%b %Y} to {filters.end:%b %Y} (left: stage left, right: stage entered).")

st.subheader("CLV backtest")
backtest = query(
    """
    select frequency_bucket, is_total, frequency_min, customers, predicted_per_customer, actual_per_customer,
        predicted_purchases, actual_purchases, mean_absolute_error, calibration_end, holdout_end
    from marts.clv_backtest
    order by is_total, frequency_min
    """
)
buckets = backtest[~backtest.is_total]
total = backtest[backtest.is_total]
if buckets.empty or buckets.predicted_per_customer.isna().all():
    st.info("The backtest fit has no predictions (see marts.clv_model_runs: too few purchases before the holdout?).")
else:
    if not total.empty:
        row = total.iloc[0]
        columns = st.columns(3)
        columns[0].metric("Predicted repeat purchases", f"{row.predicted_purchases:,.0f}")
        columns[1].metric("Actual", f"{row.actual_purchases:,.0f}")
        columns[2].metric("Mean absolute error / customer", f"{row.mean_absolute_error:.3f}")
        st.caption(f"Calibrated up to {row.calibration_end:%d %b %Y}, predicting the holdout up to {row.holdout_end:%d %b %Y}.")
    chart = buckets.melt("frequency_bucket", ["predicted_per_customer", "actual_per_customer"], "series", "purchases")
    chart["series"] = chart["series"].str.removesuffix("_per_customer")
    st.plotly_chart(px.bar(chart, x="frequency_bucket", y="purchases", color="series", barmode="group",
                           labels={"frequency_bucket": "repeat purchases in calibration", "purchases": "holdout purchases per customer"}),
                    key="clv_backtest")
