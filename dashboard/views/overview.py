"""Overview: people, active customers, revenue online and in store, conversion rate, each against the previous
period of the same length; the daily trend. Reads marts.kpi_daily (pre-aggregated per day), marts.channel_daily
(revenue by channel, where the channel filter applies) and marts.customer_360 (people, where the segment filter applies)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.data import Filters, query, require, sidebar_filters

st.title("Overview")
filters = sidebar_filters()
if not require("kpi_daily", "channel_daily", "customer_360"):
    st.stop()


def totals(period: Filters) -> pd.Series:
    return query(
        """
        select
            avg(active_customers) as active_customers,
            sum(new_customers) as new_customers,
            sum(revenue_online) as revenue_online,
            sum(revenue_store) as revenue_store,
            sum(converting_sessions) as converting_sessions,
            sum(sessions) as sessions,
            count(*) as days
        from marts.kpi_daily
        where date_day between ? and ?
        """,
        (period.start, period.end),
    ).iloc[0]


def people(period: Filters) -> int:
    """People known (first seen) by the end of the period, in the chosen segments."""
    where, params = period.segment_clause("rfm_segment")
    return int(query(
        f"select count(*) from marts.customer_360 where cast(first_seen_at as date) <= ? and {where}",
        (period.end, *params),
    ).iloc[0, 0])


def number(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def delta(now, before, percent: bool = False) -> str | None:
    """The change against the previous period (None when it has no data)."""
    now, before = number(now), number(before)
    if now is None or before is None:
        return None
    if percent:
        return f"{(now - before) * 100:+.1f} pp"
    return f"{(now - before) / before:+.1%}" if before else None


def rate(row: pd.Series) -> float | None:
    return float(row.converting_sessions) / float(row.sessions) if number(row.sessions) else None


current, previous = totals(filters), totals(filters.previous())
has_previous = int(previous.days) > 0
people_now, people_before = people(filters), people(filters.previous())

st.caption(
    f"{filters.start:%d %b %Y} to {filters.end:%d %b %Y} ({filters.days} days), against the {filters.days} days before"
    + ("" if has_previous else " (no data then)")
    + ". Segment filter: people; channel filter: revenue by channel."
)
columns = st.columns(5)
columns[0].metric("People", f"{people_now:,}", delta(people_now, people_before if has_previous else None),
                  help="People known (first seen) by the end of the period (marts.customer_360), in the chosen segments.")
columns[1].metric(
    "Active customers / day", f"{number(current.active_customers) or 0:,.0f}",
    delta(current.active_customers, previous.active_customers if has_previous else None),
    help="Average per day of known people with one of their own touchpoints that day (marts.kpi_daily).",
)
columns[2].metric(
    "Revenue online", f"€{number(current.revenue_online) or 0:,.0f}",
    delta(current.revenue_online, previous.revenue_online if has_previous else None),
    help="Paid shop orders (marts.kpi_daily.revenue_online).",
)
columns[3].metric(
    "Revenue in store", f"€{number(current.revenue_store) or 0:,.0f}",
    delta(current.revenue_store, previous.revenue_store if has_previous else None),
    help="POS receipts (marts.kpi_daily.revenue_store).",
)
current_rate, previous_rate = rate(current), rate(previous)
columns[4].metric(
    "Conversion rate", "–" if current_rate is None else f"{current_rate:.1%}",
    delta(current_rate, previous_rate if has_previous else None, percent=True),
    help="Sessions with a conversion / sessions (marts.kpi_daily).",
)

daily = query(
    """
    select
        date_day, active_customers, new_customers, revenue_online, revenue_store, sessions, converting_sessions,
        conversion_rate, sum(new_people) over (order by date_day) as people
    from marts.kpi_daily
    where date_day <= ?
    qualify date_day >= ?
    order by date_day
    """,
    (filters.end, filters.start),
)
if daily.empty:
    st.info("No days in this date range.")
    st.stop()

# Streamlit's own charts (Vega-Lite): a page without plotly starts faster in a fresh browser
left, right = st.columns(2)
revenue = daily.melt("date_day", ["revenue_online", "revenue_store"], "where", "revenue")
revenue["where"] = revenue["where"].map({"revenue_online": "online", "revenue_store": "in store"})
revenue["revenue"] = revenue["revenue"].astype(float)
left.subheader("Revenue per day")
left.bar_chart(revenue, x="date_day", y="revenue", color="where", x_label="", y_label="EUR")
right.subheader("Active customers per day")
right.bar_chart(daily, x="date_day", y="active_customers", x_label="", y_label="people")

left, right = st.columns(2)
left.subheader("Conversion rate per day")
left.line_chart(daily.assign(conversion_rate=daily.conversion_rate * 100), x="date_day", y="conversion_rate",
                x_label="", y_label="%")
where, params = filters.channel_clause("channel")
by_channel = query(
    f"""
    select date_day, channel, cast(sum(revenue) as double) as revenue
    from marts.channel_daily
    where date_day between ? and ? and {where} and conversions > 0
    group by 1, 2
    order by 1, 2
    """,
    (filters.start, filters.end, *params),
)
right.subheader("Revenue by converting channel")
if by_channel.empty:
    right.info("No conversions of the chosen channels in this date range.")
else:
    right.area_chart(by_channel, x="date_day", y="revenue", color="channel", x_label="", y_label="EUR")

left, right = st.columns(2)
left.subheader("People known")
left.line_chart(daily, x="date_day", y="people", x_label="", y_label="people first seen by then")
right.subheader("New customers per day")
right.bar_chart(daily, x="date_day", y="new_customers", x_label="", y_label="first purchases")
