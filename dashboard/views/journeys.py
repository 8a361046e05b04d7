"""Journeys: the top channel paths to conversion, a Sankey from first touch to purchase, and the storefront funnel
(product view -> cart -> checkout -> order) with its step conversion rates. Reads marts.conversion_paths (per
conversion day and path) and marts.funnel_daily (per session day and entry channel): both pre-aggregated.

Filters: the date range (conversion day, session start day); channel: paths that include one of the chosen
channels (a capped path's hidden middle steps do not count), funnel sessions by their entry channel.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard.data import Filters, query, require, sidebar_filters

TOP_PATHS = 20  # rows of the table
SANKEY_PATHS = 15  # paths drawn in the Sankey (the most frequent ones)
PURCHASE = {"online": "Purchase online", "pos": "Purchase in store"}
FUNNEL = (
    ("product_view_sessions", "Viewed a product"),
    ("add_to_cart_sessions", "Added to cart"),
    ("checkout_sessions", "Started checkout"),
    ("order_sessions", "Ordered"),
)

st.title("Journeys")
filters = sidebar_filters()
if not require("conversion_paths", "funnel_daily"):
    st.stop()


def path_clause(period: Filters) -> tuple[str, tuple]:
    """Paths with one of the chosen channels among their steps, or bought there."""
    if not period.channels:
        return "true", ()
    marks = ", ".join("?" for _ in period.channels)
    return (f"(list_has_any(string_split(path, ' > '), [{marks}]) or purchase_channel in ({marks}))",
            period.channels * 2)


where, params = path_clause(filters)
paths = query(
    f"""
    select
        path,
        min(steps) as min_steps,
        max(steps) as max_steps,
        sum(steps * conversions) as step_conversions,
        sum(conversions) as conversions,
        sum(revenue) as revenue,
        sum(avg_days_to_convert * conversions) / sum(conversions) as avg_days_to_convert,
        coalesce(sum(conversions) filter (where purchase_channel = 'online'), 0) as online,
        coalesce(sum(conversions) filter (where purchase_channel = 'pos'), 0) as in_store
    from marts.conversion_paths
    where conversion_date between ? and ? and {where}
    group by path
    order by conversions desc, revenue desc, path
    """,
    (filters.start, filters.end, *params),
)
st.caption(
    f"Conversions from {filters.start:%d %b %Y} to {filters.end:%d %b %Y}: each one's channel path over the "
    "attribution lookback window before it, consecutive repeats collapsed, paths over 5 steps shown as the first "
    "two and last two steps around `...`; `(direct)`: no touchpoint before the purchase."
    + (f" Channel filter: paths through {', '.join(filters.channels)}." if filters.channels else "")
)

if paths.empty:
    st.info("No conversions in this date range" + (" through the chosen channels." if filters.channels else "."))
else:
    total = float(paths["conversions"].sum())
    direct = float(paths.loc[paths["path"] == "(direct)", "conversions"].sum())
    touched = paths[paths["path"] != "(direct)"]
    columns = st.columns(4)
    columns[0].metric("Conversions", f"{total:,.0f}")
    columns[1].metric("Distinct paths", f"{len(paths):,}")
    columns[2].metric(
        "Average steps", "–" if touched.empty else
        f"{float(touched['step_conversions'].sum()) / float(touched['conversions'].sum()):.1f}",
        help="Steps (channels after collapsing repeats) on paths with a touchpoint, weighted by conversions.")
    columns[3].metric("Direct share", f"{direct / total:.0%}", help="Conversions without any touchpoint before them.")

    st.subheader("Top paths to conversion")
    top = paths.head(TOP_PATHS).copy()
    top["share"] = top["conversions"].astype(float) / total
    top["revenue"] = top["revenue"].astype(float)
    # a capped path stands for paths of several lengths
    top["steps"] = [str(low) if low == high else f"{low}-{high}" for low, high in zip(top["min_steps"], top["max_steps"])]
    st.dataframe(
        top[["path", "steps", "conversions", "share", "revenue", "avg_days_to_convert", "online", "in_store"]],
        hide_index=True,
        column_config={
            "path": st.column_config.TextColumn("Path", width="large"),
            "steps": st.column_config.TextColumn("Steps", help="Channels after collapsing repeats; a capped path (`...`) "
                                                               "stands for paths of several lengths."),
            "conversions": st.column_config.NumberColumn("Conversions", format="%d"),
            "share": st.column_config.ProgressColumn("Share", format="percent", min_value=0.0, max_value=1.0),
            "revenue": st.column_config.NumberColumn("Revenue", format="€%.0f"),
            "avg_days_to_convert": st.column_config.NumberColumn("Days to convert", format="%.1f",
                                                                 help="Mean days from the first touch to the purchase."),
            "online": st.column_config.NumberColumn("Online", format="%d"),
            "in_store": st.column_config.NumberColumn("In store", format="%d"),
        },
        key="top_paths",
    )

    st.subheader("From first touch to purchase")
    flows = query(
        f"""
        select path, purchase_channel, sum(conversions) as conversions
        from marts.conversion_paths
        where conversion_date between ? and ? and {where}
        group by all
        """,
        (filters.start, filters.end, *params),
    )
    drawn = flows[flows["path"].isin(paths["path"].head(SANKEY_PATHS))]
    labels: list[str] = []
    index: dict[tuple[int, str], int] = {}

    def node(position: int, label: str) -> int:
        """One node per step position and channel (the flow only goes right: no cycles)."""
        if (position, label) not in index:
            index[(position, label)] = len(labels)
            labels.append(label)
        return index[(position, label)]

    links: dict[tuple[int, int], float] = {}
    for row in drawn.itertuples():
        parts = row.path.split(" > ")
        chain = [node(i, step) for i, step in enumerate(parts)] + [node(99, PURCHASE.get(row.purchase_channel, row.purchase_channel))]
        for source, target in zip(chain, chain[1:]):
            links[(source, target)] = links.get((source, target), 0.0) + float(row.conversions)
    sankey = go.Figure(go.Sankey(
        arrangement="snap",
        node={"label": labels, "pad": 14, "thickness": 14},
        link={"source": [s for s, _ in links], "target": [t for _, t in links], "value": list(links.values())},
    ))
    sankey.update_layout(height=460, margin={"l": 10, "r": 10, "t": 10, "b": 10})
    st.plotly_chart(sankey, key="paths_sankey")
    shown = float(drawn["conversions"].sum())
    st.caption(f"The {min(SANKEY_PATHS, len(paths))} most frequent paths: {shown:,.0f} of {total:,.0f} conversions "
               f"({shown / total:.0%}). Each column is a step of the path; the last, where the purchase happened.")

st.subheader("Storefront funnel")
channel_where, channel_params = filters.channel_clause("channel")
funnel = query(
    f"""
    select
        sum(sessions) as sessions,
        sum(storefront_sessions) as storefront_sessions,
        {", ".join(f"sum({column}) as {column}" for column, _ in FUNNEL)},
        sum(orders) as orders,
        sum(order_revenue) as order_revenue
    from marts.funnel_daily
    where date_day between ? and ? and {channel_where}
    """,
    (filters.start, filters.end, *channel_params),
).iloc[0]
if pd.isna(funnel["sessions"]) or not funnel["storefront_sessions"]:
    st.info("No storefront sessions in this date range" + (" entering through the chosen channels." if filters.channels else "."))
    st.stop()

values = [int(funnel[column]) for column, _ in FUNNEL]
steps = pd.DataFrame({"step": [label for _, label in FUNNEL], "sessions": values})
steps["of previous step"] = [None] + [b / a if a else None for a, b in zip(values, values[1:])]
steps["of storefront sessions"] = [v / int(funnel["storefront_sessions"]) for v in values]
left, right = st.columns([3, 2])
chart = go.Figure(go.Funnel(y=steps["step"], x=steps["sessions"], textinfo="value+percent previous"))
chart.update_layout(height=340, margin={"l": 10, "r": 10, "t": 10, "b": 10})
left.plotly_chart(chart, key="funnel")
right.dataframe(
    steps, hide_index=True, key="funnel_steps",
    column_config={
        "sessions": st.column_config.NumberColumn("Sessions", format="%d"),
        "of previous step": st.column_config.NumberColumn("Step conversion", format="percent"),
        "of storefront sessions": st.column_config.NumberColumn("Of storefront sessions", format="percent"),
    },
)
right.caption(
    f"{int(funnel['storefront_sessions']):,} storefront sessions of {int(funnel['sessions']):,} journey sessions "
    f"(by start day and entry channel); {int(funnel['orders']):,} paid orders, €{float(funnel['order_revenue']):,.0f}. "
    "A session counts at every step up to the furthest it reached."
)

daily = query(
    f"""
    select date_day, {", ".join(f"sum({column}) as {column}" for column, _ in FUNNEL)}
    from marts.funnel_daily
    where date_day between ? and ? and {channel_where}
    group by date_day
    order by date_day
    """,
    (filters.start, filters.end, *channel_params),
)
rates = pd.DataFrame({"date_day": daily["date_day"]})
for (before, _), (column, label) in zip(FUNNEL, FUNNEL[1:]):
    rates[label] = daily[column].astype(float) / daily[before].where(daily[before] > 0).astype(float)
st.subheader("Step conversion per day")
trend = go.Figure([go.Scatter(x=rates["date_day"], y=rates[label], name=label, mode="lines") for _, label in FUNNEL[1:]])
trend.update_layout(height=320, yaxis={"title": "of the step before", "tickformat": ".0%"}, legend={"orientation": "h"},
                    margin={"l": 10, "r": 10, "t": 30, "b": 10})
st.plotly_chart(trend, key="step_conversion_per_day")  # plotly like the page's other charts: one chart library to load
