"""One row per text a person wrote: social comments, mentions and share messages (stg_social__interactions.text) and
shop product reviews (stg_shop__reviews: title and text, read as one), with the identifier that wrote it, its language and its sentiment
(``ingestion.sentiment.score_many``: offline, a lexicon and rules per language; score in [-1, 1], label negative,
neutral or positive). The text itself stays in staging: free text is personal data, nothing downstream carries it.
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
    dbt.config(materialized="table")
    from ingestion.sentiment import score_many

    frames = [
        dbt.ref("stg_social__interactions").filter(WRITTEN).project(SOCIAL).df(),
        dbt.ref("stg_shop__reviews").filter(WRITTEN).project(REVIEWS).df(),
    ]
    texts = pd.concat(frames, ignore_index=True)
    scored = score_many(texts["text"].tolist())
    out = texts.drop(columns=["text"])
    out["occurred_at"] = pd.to_datetime(out["occurred_at"], utc=True)
    out["language"] = pd.Series([s.language for s in scored], dtype="object")
    out["sentiment_score"] = pd.Series([float(s.score) for s in scored], dtype="float64")
    out["sentiment_label"] = pd.Series([s.label for s in scored], dtype="object")
    return out.sort_values("text_id", ignore_index=True)
