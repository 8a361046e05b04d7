"""One row per text a person wrote: social comments, mentions and share messages (stg_social__interactions.text) and
shop product reviews (stg_shop__reviews: title and text, read as one), with the identifier that wrote it, its language and its sentiment
(``ingestion.sentiment.score_many``: offline, a lexicon and rules per language; score in [-1, 1], label negative,
neutral or positive). The text itself stays in staging: free text is personal data, nothing downstream carries it.

Incremental (the window as in macros/incremental.sql): a run scores the texts written or edited (``updated_at``)
within var ``lookback_days`` (config ``lookback_days``, _experience__models.yml) before the newest text scored,
replaced by text_id; the post-hook there deletes texts that are gone or emptied. Scoring is the slow part of the
model: a day scores a day's texts.
"""

from __future__ import annotations

import pandas as pd

# the texts of each staging model as the columns of this model (the text last: scored, then dropped)
SOCIAL = """'social:' || interaction_id as text_id, 'social' as source, interaction_type as kind,
    'social_handle' as identifier_type, handle_hash as identifier_value, occurred_at, text"""
REVIEWS = """'review:' || review_id as text_id, 'shop_review' as source, 'review' as kind,
    'shop_customer' as identifier_type, shop_customer_id as identifier_value, created_at as occurred_at,
    coalesce(title || '. ', '') || text as text"""  # the title is part of what the reviewer wrote
WRITTEN = "text is not null and trim(text) <> ''"


def model(dbt, session):
    dbt.config(materialized="incremental", incremental_strategy="delete+insert", unique_key="text_id")
    from ingestion.sentiment import score_many

    social, reviews = dbt.ref("stg_social__interactions").filter(WRITTEN), dbt.ref("stg_shop__reviews").filter(WRITTEN)
    if dbt.is_incremental:
        days = int(dbt.config.get("lookback_days"))
        since = session.sql(f"select max(occurred_at) - interval ({days}) day from {dbt.this}").fetchall()[0][0]
        if since is not None:
            social = social.filter(f"greatest(occurred_at, updated_at) >= '{since.isoformat()}'::timestamptz")
            reviews = reviews.filter(f"greatest(created_at, updated_at) >= '{since.isoformat()}'::timestamptz")
    frames = [social.project(SOCIAL).df(), reviews.project(REVIEWS).df()]
    texts = pd.concat(frames, ignore_index=True)
    scored = score_many(texts["text"].tolist())
    out = texts.drop(columns=["text"])
    out["occurred_at"] = pd.to_datetime(out["occurred_at"], utc=True)
    out["language"] = pd.Series([s.language for s in scored], dtype="object")
    out["sentiment_score"] = pd.Series([float(s.score) for s in scored], dtype="float64")
    out["sentiment_label"] = pd.Series([s.label for s in scored], dtype="object")
    return out.sort_values("text_id", ignore_index=True)
