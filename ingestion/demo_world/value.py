"""The demo world's purchases: a known BG/NBD + Gamma-Gamma process per person, so value models can be scored.

Time unit: days. Every person with a shop account or a loyalty membership is either a prospect (never buys,
``PROSPECT_SHARE``) or is acquired at a uniform moment in ``[start - HISTORY_DAYS, end)`` with a first purchase
then. From there (Fader, Hardie & Lee 2005, "Counting your customers the easy way"):

- while alive, purchases come as a Poisson process with rate ``lam`` ~ Gamma(shape r, rate alpha);
- after each *repeat* purchase the customer drops out for good with probability ``dropout_p`` ~ Beta(a, b);
- each purchase's spend ~ Gamma(shape p, rate nu), nu ~ Gamma(shape q, rate gamma) per person
  (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves"): the mean spend of a person is p / nu,
  over the population p * gamma / (q - 1).

Channel per purchase: online with people who only have a shop account, at the till (pos) with people who only
have a loyalty card, and for people with both an online share of their own (uniform). Purchases before the
live window go to the history export, those in the window become Shopify orders and loyalty receipts.

All draws come from a stream of their own (``value:<seed>``), one person after the other in person order, so
the rest of the world keeps its draws and a person's process does not depend on anybody else's.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

TRUE_PARAMS = {"r": 0.75, "alpha": 40.0, "a": 0.8, "b": 2.5, "p": 6.0, "q": 4.0, "gamma": 30.0}
HISTORY_DAYS = 730  # how far the history export reaches back before the live window
PROSPECT_SHARE = 0.15  # known people (a shop account or a loyalty card) who never buy
OVERLAP_DAYS = 7  # the history export also holds the online orders of the first days of the live window
TIME_UNIT = "days"
# the history export (below <source_systems>/history/) and the kinds of bad rows mixed into it
HISTORY_CSV = "legacy_orders.csv"  # everything older than a year, ISO dates
HISTORY_PARQUET = "exports/orders_last_year.parquet"  # the last year and the overlap, YYYYMMDD dates
BAD_ROW_KINDS = ("bad_date", "future_date", "bad_amount", "negative_amount", "no_identifier", "unknown_channel")


@dataclass
class Purchase:
    at: datetime  # whole seconds, UTC
    amount: float  # the spend, rounded to cents
    channel: str  # "online" | "pos"
    repeat: bool  # every purchase but the first


@dataclass
class ValuePerson:
    person_id: str
    acquired_at: datetime | None  # None: a prospect
    lam: float  # purchases per day while alive
    dropout_p: float  # chance to drop out after each repeat purchase
    nu: float  # spend rate (mean spend p / nu)
    dropped_at: datetime | None  # the repeat purchase after which the person dropped out (None: alive at the end)
    online_share: float
    purchases: list[Purchase] = field(default_factory=list)


def value_params() -> dict:
    """What ``value_params.json`` holds: the true parameters, the time unit and the history's reach."""
    return {**TRUE_PARAMS, "time_unit": TIME_UNIT, "history_days": HISTORY_DAYS, "prospect_share": PROSPECT_SHARE,
            "overlap_days": OVERLAP_DAYS}


def _spend(rng: random.Random, nu: float) -> float:
    return max(round(rng.gammavariate(TRUE_PARAMS["p"], 1.0 / nu), 2), 0.01)


def draw_people(seed: int, persons: list[dict], start: datetime, end: datetime) -> dict[str, ValuePerson]:
    """The process for every person with a shop account or a loyalty membership (``has_shop``/``has_loyalty``)."""
    rng = random.Random(f"value:{seed}")
    tp = TRUE_PARAMS
    first = start - timedelta(days=HISTORY_DAYS)
    span = (end - first).total_seconds()
    people: dict[str, ValuePerson] = {}
    for person in persons:
        shop, loyalty = person["has_shop"], person["has_loyalty"]
        if not (shop or loyalty):
            continue
        prospect = rng.random() < PROSPECT_SHARE
        lam = rng.gammavariate(tp["r"], 1.0 / tp["alpha"])
        dropout_p = rng.betavariate(tp["a"], tp["b"])
        nu = rng.gammavariate(tp["q"], 1.0 / tp["gamma"])
        online_share = 1.0 if not loyalty else 0.0 if not shop else rng.random()
        acquired = first + timedelta(seconds=int(rng.random() * span))
        vp = ValuePerson(person["person_id"], None if prospect else acquired, lam, dropout_p, nu, None, online_share)
        if not prospect:
            at, repeat = acquired, False
            while at < end:
                channel = "online" if rng.random() < online_share else "pos"
                vp.purchases.append(Purchase(at, _spend(rng, nu), channel, repeat))
                if repeat and rng.random() < dropout_p:
                    vp.dropped_at = at
                    break
                gap_days = rng.expovariate(lam) if lam > 0 else float("inf")
                if gap_days >= (end - at).total_seconds() / 86_400:
                    break
                at += timedelta(seconds=max(int(gap_days * 86_400), 1))
                repeat = True
        people[vp.person_id] = vp
    return people
