"""Experience: what people write about the brand and how engaged they are. Sentiment over time by channel and
language (marts.sentiment_daily: every text, counted per day; no text, no person), the service alerts (negative
mentions and reviews of known customers, marts.service_alerts: no free text there, the person by id) and the
engagement tiers (marts.customer_engagement). Charts are Streamlit's own (Vega-Lite): the page needs no plotly bundle.

Filters: the date range (texts and alerts by the day written); segment: alerts and engagement of people in the
chosen RFM segments (through marts.customer_360 when it is there). The sidebar's channel filter is about
touchpoint channels; texts have channels of their own (facebook, instagram, tiktok, shop), chosen on the page.
"""

from __future__ import annotations

import streamlit as st

from dashboard.data import query, require, sidebar_filters, tables

ALERTS_SHOWN = 200
TIERS = ("high", "medium", "low", "none")
LABEL_COLOURS = {"negative": "#d62728", "neutral": "#9e9e9e", "positive": "#2ca02c"}

st.title("Experience")
filters = sidebar_filters()
if not require("sentiment_daily", "service_alerts", "customer_engagement"):
    st.stop()

segment_where, segment_params = filters.segment_clause("rfm_segment")
if filters.segments and "marts.customer_360" in tables():
    people_where = f"person_id in (select person_id from marts.customer_360 where {segment_where})"
    people_params = segment_params
else:
    people_where, people_params = "true", ()
st.caption(
    f"Texts and alerts written from {filters.start:%d %b %Y} to {filters.end:%d %b %Y}."
    + (f" Segment filter ({', '.join(filters.segments)}): alerts and engagement."
       if filters.segments and people_params else "")
)

options = query("select distinct channel, language from marts.sentiment_daily")
left, right = st.columns(2)
text_channels = left.multiselect("Text channel", sorted(options["channel"].unique()), key="experience_channels",
                                 help="Where the texts were written: a social channel, or shop (product reviews).")
languages = right.multiselect("Language", sorted(options["language"].unique()), key="experience_languages")


def within(column: str, chosen: list[str]) -> tuple[str, tuple]:
    if not chosen:
        return "true", ()
    return f"{column} in ({', '.join('?' for _ in chosen)})", tuple(chosen)


channel_where, channel_params = within("channel", text_channels)
language_where, language_params = within("language", languages)
texts = query(
    f"""
    select
        cast(date_trunc('week', date_day) as date) as week,
        channel,
        language,
        sum(texts) as texts,
        sum(negative_texts) as negative_texts,
        sum(neutral_texts) as neutral_texts,
        sum(positive_texts) as positive_texts,
        sum(sentiment_score_sum) as sentiment_score_sum
    from marts.sentiment_daily
    where date_day between ? and ? and {channel_where} and {language_where}
    group by all
    order by week
    """,
    (filters.start, filters.end, *channel_params, *language_params),
)

st.subheader("Sentiment over time")
if texts.empty:
    st.info("No texts written in this date range for the chosen channels and languages.")
else:
    total = float(texts["texts"].sum())
    columns = st.columns(4)
    columns[0].metric("Texts", f"{total:,.0f}")
    columns[1].metric("Average sentiment", f"{float(texts['sentiment_score_sum'].sum()) / total:+.2f}",
                      help="Mean score of the texts, -1 most negative to 1 most positive.")
    columns[2].metric("Negative", f"{float(texts['negative_texts'].sum()) / total:.0%}")
    columns[3].metric("Positive", f"{float(texts['positive_texts'].sum()) / total:.0%}")
    split = st.radio("Split by", ("channel", "language"), horizontal=True, key="experience_split")
    by = texts.groupby(["week", split], as_index=False)[["texts", "sentiment_score_sum", "negative_texts"]].sum()
    by["average sentiment"] = by["sentiment_score_sum"].astype(float) / by["texts"].astype(float)
    left, right = st.columns(2)
    left.line_chart(by.pivot(index="week", columns=split, values="average sentiment"), x_label="week (UTC, Monday)",
                    y_label="average sentiment")
    labels = texts.groupby("week")[["negative_texts", "neutral_texts", "positive_texts"]].sum()
    labels.columns = list(LABEL_COLOURS)
    right.bar_chart(labels, x_label="week (UTC, Monday)", y_label="texts", color=list(LABEL_COLOURS.values()))

st.subheader("Service alerts")
alerts_channel_where, alerts_channel_params = within("channel", text_channels)
alerts = query(
    f"""
    select occurred_at, reason, channel, round(sentiment_score, 2) as sentiment_score, person_id, alert_id
    from marts.service_alerts
    where cast(timezone('UTC', occurred_at) as date) between ? and ? and {alerts_channel_where} and {people_where}
    order by occurred_at desc
    """,
    (filters.start, filters.end, *alerts_channel_params, *people_params),
)
if alerts.empty:
    st.info("No service alerts in this date range.")
else:
    left, right = st.columns([2, 3])
    per_channel = alerts.groupby(["channel", "reason"], as_index=False).size()
    left.bar_chart(per_channel.pivot(index="channel", columns="reason", values="size").fillna(0), y_label="alerts")
    right.dataframe(
        alerts.head(ALERTS_SHOWN), hide_index=True, key="alerts",
        column_config={
            "occurred_at": st.column_config.DatetimeColumn("Written (UTC)", format="YYYY-MM-DD HH:mm"),
            "sentiment_score": st.column_config.NumberColumn("Sentiment"),
            "person_id": st.column_config.TextColumn("Person", help="Look them up on the Customer lookup page."),
        },
    )
    right.caption(f"{len(alerts):,} alerts, the newest {min(ALERTS_SHOWN, len(alerts))} listed: negative social "
                  "mentions and product reviews of known customers. The texts stay out of the marts (personal data).")

st.subheader("Engagement tiers")
tiers = query(
    f"""
    select
        engagement_tier,
        count(*) as people,
        avg(engagement_score) as avg_score,
        avg(email_open_rate) as email_open_rate,
        avg(email_click_rate) as email_click_rate,
        any_value(as_of_date) as as_of_date
    from marts.customer_engagement
    where {people_where}
    group by engagement_tier
    """,
    people_params,
)
if tiers.empty:
    st.info("No people in marts.customer_engagement" + (" in the chosen segments." if people_params else "."))
else:
    tiers["order"] = tiers["engagement_tier"].map({tier: i for i, tier in enumerate(TIERS)})
    tiers = tiers.sort_values("order").drop(columns="order")
    tiers["share"] = tiers["people"] / tiers["people"].sum()
    st.dataframe(  # a table, no chart: the share bar shows the distribution (one plotly chart less to draw)
        tiers[["engagement_tier", "people", "share", "avg_score", "email_open_rate", "email_click_rate"]],
        hide_index=True, key="tiers",
        column_config={
            "engagement_tier": "Tier",
            "people": st.column_config.NumberColumn("People", format="%d"),
            "share": st.column_config.ProgressColumn("Share", format="percent", min_value=0.0, max_value=1.0),
            "avg_score": st.column_config.NumberColumn("Average score", format="%.1f"),
            "email_open_rate": st.column_config.NumberColumn("E-mail open rate", format="percent"),
            "email_click_rate": st.column_config.NumberColumn("E-mail click rate", format="percent"),
        },
    )
    st.caption(f"As of {tiers['as_of_date'].iloc[0]:%d %b %Y}, over the engagement window (not the date filter): "
               "high >= 60 points, medium >= 30, low > 0, none 0.")
