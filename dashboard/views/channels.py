"""Channels: sessions, conversions, revenue and attributed revenue by channel over time (marts.channel_daily), with a
switch over the attribution models of marts.attribution. The channel filter applies; the segment filter does not
(channel_daily has no person)."""

from __future__ import annotations

import streamlit as st

from dashboard.data import query, require, sidebar_filters

st.title("Channels")
filters = sidebar_filters()
if not require("channel_daily", "attribution"):
    st.stop()


def attribution_models() -> list[str]:
    """The models of marts.attribution that channel_daily has columns for, in channel_daily's order."""
    models = set(query("select distinct model from marts.attribution")["model"])
    columns = query(
        "select column_name from information_schema.columns where table_schema = 'marts' and table_name = 'channel_daily'"
        " and column_name like 'attributed_revenue_%' order by ordinal_position"
    )["column_name"]
    return [c.removeprefix("attributed_revenue_") for c in columns if c.removeprefix("attributed_revenue_") in models]


models = attribution_models()
if not models:
    st.info("marts.attribution has no models yet: materialize `attribution` and `channel_daily` (then `serving_copy`).")
    st.stop()

top = st.columns([3, 2])
model = top[0].segmented_control(
    "Attribution model", models, default="last_touch" if "last_touch" in models else models[0], key="attribution_model",
    format_func=lambda m: m.replace("_", " "),
)
model = model or models[0]
grain = top[1].segmented_control("Per", ["day", "week", "month"], default="day", key="channels_grain") or "day"
if filters.segments:
    st.caption("The segment filter does not apply here: channel reports count sessions and conversions, not people.")

where, params = filters.channel_clause("channel")
daily = query(
    f"""
    select
        cast(date_trunc('{grain}', date_day) as date) as period,
        channel,
        sum(sessions) as sessions,
        sum(conversions) as conversions,
        cast(sum(revenue) as double) as revenue,
        sum(attributed_conversions_{model}) as attributed_conversions,
        sum(attributed_revenue_{model}) as attributed_revenue
    from marts.channel_daily
    where date_day between ? and ? and {where}
    group by 1, 2
    order by 1, 2
    """,
    (filters.start, filters.end, *params),
)
if daily.empty:
    st.info("No channel activity in this date range.")
    st.stop()

summary = (
    daily.groupby("channel")[["sessions", "conversions", "revenue", "attributed_conversions", "attributed_revenue"]]
    .sum()
    .sort_values("attributed_revenue", ascending=False)
)
st.subheader(f"By channel, {filters.start:%d %b} to {filters.end:%d %b %Y}")
st.dataframe(
    summary,
    column_config={
        "sessions": st.column_config.NumberColumn("Sessions", help="Sessions that started on the channel", format="%d"),
        "conversions": st.column_config.NumberColumn("Conversions", help="Conversions on the channel itself", format="%d"),
        "revenue": st.column_config.NumberColumn("Revenue", format="€%.0f"),
        "attributed_conversions": st.column_config.NumberColumn(f"Attributed conversions ({model})", format="%.1f"),
        "attributed_revenue": st.column_config.NumberColumn(f"Attributed revenue ({model})", format="€%.0f"),
    },
)

# Streamlit's own charts (Vega-Lite): a page without plotly starts faster in a fresh browser
left, right = st.columns(2)
left.subheader("Sessions")
left.bar_chart(daily, x="period", y="sessions", color="channel", x_label="", y_label="sessions")
right.subheader("Conversions")
right.bar_chart(daily, x="period", y="conversions", color="channel", x_label="", y_label="conversions")
left, right = st.columns(2)
left.subheader("Revenue (converting channel)")
left.bar_chart(daily, x="period", y="revenue", color="channel", x_label="", y_label="EUR")
right.subheader(f"Attributed revenue ({model.replace('_', ' ')})")
right.bar_chart(daily, x="period", y="attributed_revenue", color="channel", x_label="", y_label="EUR")

st.subheader("Attributed revenue by model")
columns = ", ".join(f"sum(attributed_revenue_{m}) as {m}" for m in models)
compare = query(
    f"select channel, {columns} from marts.channel_daily where date_day between ? and ? and {where} group by 1 order by 1",
    (filters.start, filters.end, *params),
).melt("channel", models, "model", "attributed_revenue")
st.bar_chart(compare, x="channel", y="attributed_revenue", color="model", stack=False, x_label="", y_label="EUR")
