"""One row per channel: its removal effect in a first-order Markov chain learnt from the channel paths.

States: ``start``, one per channel, and the absorbing ``conversion`` and ``null``. Every path of
``int_attribution__channel_paths`` walks start -> its channels in order -> conversion (converting paths) or null;
transition probabilities are the observed counts normalised per state. The chain's conversion probability is the
probability of absorption in ``conversion`` from ``start``. Removing a channel sends every walk that reaches it to
``null``; its removal effect is ``1 - P(conversion without it) / P(conversion)``, and its share is its removal
effect over the sum of all channels' effects. ``int_attribution__markov`` splits each conversion by these shares.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd

START, CONVERSION, NULL = "(start)", "(conversion)", "(null)"


def transition_counts(paths: list[tuple[str, bool, int]]) -> dict[str, dict[str, float]]:
    """``{state: {next state: count}}`` from ``(channel path 'a > b', converted, times seen)`` rows."""
    counts: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for channel_path, converted, times in paths:
        states = [START, *channel_path.split(" > "), CONVERSION if converted else NULL]
        for here, there in zip(states, states[1:]):
            counts[here][there] += times
    return counts


def conversion_probability(counts: dict[str, dict[str, float]], removed: str | None = None) -> float:
    """Probability of absorption in ``conversion`` from ``start``; a ``removed`` channel absorbs into ``null``.

    Solves ``x = Q x + r`` over the transient states (start and the channels that are not removed), where
    ``Q`` holds the transition probabilities between them and ``r`` the probability of converting next.
    """
    transient = [s for s in counts if s != removed]
    index = {state: i for i, state in enumerate(transient)}
    q = np.zeros((len(transient), len(transient)))
    r = np.zeros(len(transient))
    for state in transient:
        total = sum(counts[state].values())
        for there, n in counts[state].items():
            if there == CONVERSION:
                r[index[state]] += n / total
            elif there in index:
                q[index[state], index[there]] += n / total
    x = np.linalg.solve(np.eye(len(transient)) - q, r)
    return float(x[index[START]])


def removal_effects(paths: list[tuple[str, bool, int]]) -> pd.DataFrame:
    """Per channel: removal effect, share of all removal effects, and the chain's conversion probability."""
    counts = transition_counts(paths)
    channels = sorted(s for s in counts if s != START)
    base = conversion_probability(counts) if counts else 0.0
    effects = {c: (1.0 - conversion_probability(counts, removed=c) / base) if base > 0 else 0.0 for c in channels}
    total = sum(effects.values())
    return pd.DataFrame(
        {
            "channel": channels,
            "removal_effect": [effects[c] for c in channels],
            "removal_effect_share": [effects[c] / total if total > 0 else 0.0 for c in channels],
            "conversion_probability": [base] * len(channels),
            "transitions_from_channel": [float(sum(counts[c].values())) for c in channels],
        },
        columns=["channel", "removal_effect", "removal_effect_share", "conversion_probability", "transitions_from_channel"],
    )


def model(dbt, session):
    dbt.config(materialized="table")
    paths = dbt.ref("int_attribution__channel_paths").fetchall()
    return removal_effects([(path, bool(converted), int(n)) for path, converted, n in paths])
