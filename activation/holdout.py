"""Deterministic campaign holdouts: the same person is in or out of a campaign's holdout every time, in Python
(the real-time path) and in SQL (dbt macro ``holdout_bucket``, ``marts.campaign_assignments``) alike.

bucket = the first 8 hex digits of SHA-256("<campaign_id>:<person_id>") as an integer, divided by 16**8;
a person is held out of the campaign when bucket < share (default 10 %).
"""

from __future__ import annotations

import hashlib

DEFAULT_HOLDOUT_SHARE = 0.10


def holdout_bucket(person_id: str, campaign_id: str) -> float:
    digest = hashlib.sha256(f"{campaign_id}:{person_id}".encode()).hexdigest()
    return int(digest[:8], 16) / 16**8


def in_holdout(person_id: str, campaign_id: str, share: float = DEFAULT_HOLDOUT_SHARE) -> bool:
    return holdout_bucket(person_id, campaign_id) < share
