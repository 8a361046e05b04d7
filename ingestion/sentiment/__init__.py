"""Offline sentiment of short German and English texts: per text its language, a score in [-1, 1] and a label.

    score("Nicht schlecht, aber die Lieferung war sehr langsam 😕")  # Sentiment(language='de', score=-0.7163, label='negative')

English runs on vaderSentiment (MIT, its lexicon ships in the wheel); German on the project's own lexicon
(``lexicon_de.tsv``, MIT, see README.md here) with VADER-style rules for negation, intensifiers, diminishers,
contrast and emoji. Both tolerate stretched letters, one-letter typos and (German) umlauts written as ae/oe/ue/ss.
Nothing is downloaded at run time. Labels come from the score with per-language thresholds chosen on the "tune"
split of the demo world's labelled corpus (ingestion.demo_world.texts); ``evaluate`` reports macro-F1.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from . import english, german
from .language import detect

LANGUAGES = ("de", "en")
LABELS = ("negative", "neutral", "positive")

# Label thresholds on the score, per language: negative at or below the first, positive at or above the second.
# Chosen on the "tune" split only (see README.md: how, and the macro-F1 on "tune" and "heldout").
# python -m ingestion.sentiment.tune (tune split, 3 x 3,000 texts, seeds 0-2) printed these.
THRESHOLDS = {"de": (-0.125, 0.2), "en": (-0.275, 0.25)}

_GERMAN_LEX = frozenset(german.LEXICON)
_ENGLISH_LEX = frozenset(w for w in english.LEXICON if w.isalpha() and len(w) > 3)
_COMPOUND = {"de": german.compound, "en": english.compound}


class Sentiment(NamedTuple):
    language: str | None
    score: float
    label: str


NEUTRAL_UNKNOWN = Sentiment(None, 0.0, "neutral")


def detect_language(text: str | None) -> str | None:
    """"de", "en", or None (empty, or no evidence for either)."""
    return detect(text, _GERMAN_LEX, _ENGLISH_LEX)


def label_of(value: float, language: str, thresholds: dict | None = None) -> str:
    low, high = (thresholds or THRESHOLDS)[language]
    return "negative" if value <= low else "positive" if value >= high else "neutral"


def score(text: str | None, thresholds: dict | None = None) -> Sentiment:
    """Language, score in [-1, 1] and label of one text. None, empty or undetectable: (None, 0.0, "neutral")."""
    if text is None:
        return NEUTRAL_UNKNOWN
    language = detect_language(text)
    if language is None:
        return NEUTRAL_UNKNOWN
    value = round(max(-1.0, min(1.0, _COMPOUND[language](text))), 4)
    return Sentiment(language, value, label_of(value, language, thresholds))


def score_many(texts: Iterable[str | None], thresholds: dict | None = None) -> list[Sentiment]:
    """score() for many texts; a text seen before in the same call is scored once."""
    seen: dict[str | None, Sentiment] = {}
    out = []
    for text in texts:
        result = seen.get(text)
        if result is None:
            result = seen[text] = score(text, thresholds)
        out.append(result)
    return out


def evaluate(rows: Iterable[dict], thresholds: dict | None = None) -> dict:
    """Macro-F1 per language of the scorer on rows {text, language, label} (the true language and label).

    Returns {language: {"macro_f1", "accuracy", "n", "language_errors", "f1": {label: F1},
    "confusion": {true label: {predicted label: count}}}}; a text whose language the scorer gets wrong or cannot
    tell is still counted, with whatever label it got.
    """
    rows = list(rows)
    predicted = score_many((row["text"] for row in rows), thresholds)
    report = {}
    for language in sorted({row["language"] for row in rows}):
        mine = [(row, got) for row, got in zip(rows, predicted) if row["language"] == language]
        report[language] = {
            **label_report((row["label"], got.label) for row, got in mine),
            "language_errors": sum(got.language != language for _, got in mine),
        }
    return report


def label_report(pairs: Iterable[tuple[str, str]]) -> dict:
    """Macro-F1, accuracy, n, F1 per label and the confusion matrix of (true label, predicted label) pairs."""
    confusion = {t: {p: 0 for p in LABELS} for t in LABELS}
    n = 0
    for true, got in pairs:
        confusion[true][got] += 1
        n += 1
    f1 = {}
    for label in LABELS:
        tp = confusion[label][label]
        fp = sum(confusion[t][label] for t in LABELS) - tp
        fn = sum(confusion[label].values()) - tp
        f1[label] = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    correct = sum(confusion[label][label] for label in LABELS)
    return {
        "macro_f1": sum(f1.values()) / len(LABELS),
        "accuracy": correct / n if n else 0.0,
        "n": n,
        "f1": f1,
        "confusion": confusion,
    }


__all__ = ["LABELS", "LANGUAGES", "Sentiment", "THRESHOLDS", "detect_language", "evaluate", "label_report", "score", "score_many"]
