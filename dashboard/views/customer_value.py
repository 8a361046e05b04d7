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
# aggregated in SQL (a page sends bins and groups to the browser, not one value per customer)
customers = f"""
    select cast(clv.clv_12m as double) as clv_12m, coalesce(rfm.segment, '(none)') as segment, c360.cohort_month
    from marts.customer_clv as clv
    left join marts.customer_rfm as rfm on clv.person_id = rfm.person_id
    left join marts.customer_360 as c360 on clv.person_id = c360.person_id
    where clv.clv_12m is not null and {where}
"""
stats = query(
    f"""
    select count(*) as customers, avg(clv_12m) as mean, median(clv_12m) as median, sum(clv_12m) as total,
        quantile_cont(clv_12m, 0.99) as upper
    from ({customers})
    """,
    params,
).iloc[0]

st.subheader("CLV distribution (12 months)")
if not stats.customers:
    st.info("No customer has a CLV prediction (in the chosen segments): the production fit may have failed, see the mart clv_model_runs.")
else:
    columns = st.columns(4)
    columns[0].metric("Customers", f"{int(stats.customers):,}")
    columns[1].metric("Mean 12-month CLV", f"€{stats['mean']:,.2f}")
    columns[2].metric("Median", f"€{stats['median']:,.2f}")
    columns[3].metric("Sum", f"€{stats.total:,.0f}")
    upper, bins = float(stats.upper), 60
    width = upper / bins if upper > 0 else 1.0
    histogram = query(
        f"""
        select least(floor(clv_12m / ?), ? - 1) * ? as bin_start, count(*) as customers
        from ({customers})
        where clv_12m <= ?
        group by 1
        order by 1
        """,
        (width, bins, width, *params, upper),
    )
    histogram["bin_middle"] = histogram.bin_start + width / 2
    figure = px.bar(histogram, x="bin_middle", y="customers", labels={"bin_middle": "12-month CLV (EUR)"})
    figure.update_traces(width=width * 0.95)
    st.plotly_chart(figure, key="clv_histogram")
    above = int(query(f"select count(*) from ({customers}) where clv_12m > ?", (*params, upper)).iloc[0, 0])
    st.caption(f"Up to the 99th percentile (€{upper:,.0f}), in bins of €{width:,.2f}; {above} customers above it left out of the plot.")

    left, right = st.columns(2)
    by_segment = query(
        f"""
        select segment, count(*) as customers, avg(clv_12m) as mean_clv, sum(clv_12m) as total_clv
        from ({customers}) group by 1 order by mean_clv desc
        """,
        params,
    )
    left.subheader("By RFM segment")
    left.plotly_chart(px.bar(by_segment, x="segment", y="mean_clv", hover_data=["customers", "total_clv"],
                             labels={"mean_clv": "mean 12-month CLV (EUR)", "segment": ""}), key="clv_by_segment")
    by_cohort = query(
        f"""
        select cohort_month, count(*) as customers, avg(clv_12m) as mean_clv
        from ({customers}) where cohort_month is not null group by 1 order by 1
        """,
        params,
    )
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
    st.info("The backtest fit has no predictions (see the mart clv_model_runs: too few purchases before the holdout?).")
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
