import random
import re
from collections import Counter

import pytest

from ingestion.demo_world.texts import (
    KINDS,
    LABELS,
    LANGUAGES,
    common_phrasings,
    corpus,
    make_text,
    reserved_phrasings,
    template_literals,
)
from ingestion.sentiment import label_report


def test_corpus_is_deterministic_in_split_n_and_seed():
    assert corpus("tune", 300) == corpus("tune", 300)
    assert corpus("tune", 300, seed=1) != corpus("tune", 300)
    assert corpus("tune", 120) == corpus("tune", 300)[:120]  # a shorter corpus is the start of a longer one
    rng_a, rng_b = random.Random(7), random.Random(7)
    assert [make_text(rng_a, "review", "de", "negative") for _ in range(20)] == [
        make_text(rng_b, "review", "de", "negative") for _ in range(20)
    ]


def test_corpus_is_balanced_over_languages_and_labels_and_uses_every_kind():
    rows = corpus("tune", 3000)
    assert len(rows) == 3000
    counts = Counter((r["language"], r["label"]) for r in rows)
    assert set(counts) == {(lang, label) for lang in LANGUAGES for label in LABELS}
    assert max(counts.values()) - min(counts.values()) <= 1
    kinds = Counter(r["kind"] for r in rows)
    assert set(kinds) == set(KINDS) and min(kinds.values()) > 600
    assert all(isinstance(r["text"], str) and r["text"].strip() for r in rows)
    assert all("@journey" in r["text"] or "#journey" in r["text"] for r in rows if r["kind"] == "mention")


def test_splits_differ():
    tune, heldout, world = ({r["text"] for r in corpus(split, 2000)} for split in ("tune", "heldout", "world"))
    assert len(tune & heldout) / len(heldout) < 0.1  # only short, common shares may coincide
    assert len(tune & world) / len(world) < 0.1
    assert len(tune) > 1500 and len(heldout) > 1500  # varied: few repeats within a split


def _distinctive_reserved(language: str) -> set[str]:
    """Reserved literal pieces long enough to search for, and not inside any phrasing every split may use."""
    common = [piece.lower() for pool in common_phrasings(language).values() for e in pool for piece in template_literals(e)]
    pieces = {
        piece.strip(" ,.!?:").lower()
        for pool in reserved_phrasings(language).values()
        for e in pool
        for piece in template_literals(e)
    }

    def composable(p: str) -> bool:  # "not" + "really" -> "not really": two common pieces side by side
        words = p.split(" ")
        return any(
            any(c.strip().endswith(" ".join(words[:k])) for c in common)
            and any(c.strip().startswith(" ".join(words[k:])) for c in common)
            for k in range(1, len(words))
        )

    return {p for p in pieces if len(p) >= 8 and not any(p in c for c in common) and not composable(p)}


@pytest.mark.parametrize("language", LANGUAGES)
def test_reserved_phrasings_appear_only_in_heldout(language):
    reserved = _distinctive_reserved(language)
    assert len(reserved) >= 30  # a real share of the wording is kept back
    pattern = re.compile("|".join(re.escape(p) for p in sorted(reserved, key=len, reverse=True)))
    for split in ("tune", "world"):
        texts = [r["text"].lower() for r in corpus(split, 3000) if r["language"] == language]
        leaked = [t for t in texts if pattern.search(t)]
        assert leaked == [], (split, leaked[:5])
    heldout = [r["text"].lower() for r in corpus("heldout", 3000) if r["language"] == language]
    share = sum(bool(pattern.search(t)) for t in heldout) / len(heldout)
    assert share > 0.3  # most heldout texts use wording the tune split never shows (typos hide some)


KEYWORDS = {
    "en": {
        "positive": "love great good perfect amazing excellent recommend happy best comfortable beautiful nice".split(),
        "negative": "bad terrible awful worst broke waste disappointing never damaged not poor slow".split(),
    },
    "de": {
        "positive": "gut super toll perfekt liebe empfehlung zufrieden bester bequem schön klasse top".split(),
        "negative": "schlecht kaputt nie enttäuscht enttäuschend nicht mies geldverschwendung schrecklich langsam".split(),
    },
}


def _macro_f1(pairs: list[tuple[str, str]]) -> float:
    """Mean over the labels of F1, from (true label, predicted label) pairs (checked by hand in test_sentiment)."""
    return label_report(pairs)["macro_f1"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_keyword_lookup_alone_scores_poorly(language):
    """Counting obvious words misreads negation, contrast, emoji-only and neutral questions that use loaded words."""
    pairs = []
    for r in corpus("heldout", 3000):
        if r["language"] != language:
            continue
        words = re.findall(r"\w+", r["text"].lower())
        pos = sum(w in KEYWORDS[language]["positive"] for w in words)
        neg = sum(w in KEYWORDS[language]["negative"] for w in words)
        guess = "positive" if pos > neg else "negative" if neg > pos else "neutral"
        pairs.append((r["label"], guess))
    assert 0.2 < _macro_f1(pairs) < 0.7  # better than chance, far from good


def test_texts_carry_negation_intensifiers_contrast_emoji_typos_and_case():
    texts = [r["text"] for r in corpus("tune", 3000)]
    low = [t.lower() for t in texts]

    def share(predicate) -> float:
        return sum(bool(predicate(t)) for t in low) / len(low)

    assert share(lambda t: re.search(r"\b(not|nicht|gar nicht|never|nie)\b", t)) > 0.1
    assert share(lambda t: re.search(r"\b(very|really|extremely|so|super|sehr|echt|total|mega|richtig|extrem)\b", t)) > 0.05
    assert share(lambda t: re.search(r"\b(a bit|slightly|etwas|ein bisschen)\b", t)) > 0.01
    assert share(lambda t: re.search(r", (but|aber|however|doch|yet|– aber)\b", t)) > 0.05
    assert share(lambda t: re.search(r"[\U0001f300-\U0001faff\u2764]|:\)|:\(|<3", t)) > 0.25
    assert share(lambda t: re.search(r"([aeiouäöü])\1\1", t)) > 0.03  # stretched vowels
    assert sum(t == t.lower() and t != t.upper() for t in texts) / len(texts) > 0.1  # all lower case
    assert share(lambda t: "?" in t) > 0.08  # neutral questions


def test_unknown_arguments_are_refused():
    rng = random.Random(0)
    with pytest.raises(ValueError):
        make_text(rng, "tweet", "de", "positive")
    with pytest.raises(ValueError):
        make_text(rng, "comment", "fr", "positive")
    with pytest.raises(ValueError):
        make_text(rng, "comment", "de", "angry")
    with pytest.raises(ValueError):
        corpus("train")
