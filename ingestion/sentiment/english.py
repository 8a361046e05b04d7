"""English sentiment: vaderSentiment (MIT) on a lightly repaired text.

VADER's lexicon gains a few shopping and service words it leaves neutral (lexicon_en_extra.tsv, the project's own).
Before VADER sees the text, emoji and emoticons of the shared table are taken out and their valence is added to
VADER's sum afterwards (VADER would negate a ":(" after "never" and spells many emoji out as words without
valence), and words VADER does not
know are mapped to the one lexicon, booster or negation word one typo away ("terible" -> "terrible"), never below five
letters. VADER then applies its own negation, boosters, "but", capitals and punctuation rules.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

from vaderSentiment import vaderSentiment as vader

from .language import ENGLISH_WORDS
from .text import EMOJI, TOKEN_RE, TypoIndex, squeeze_variants

EXTRA_LEXICON_PATH = Path(__file__).with_name("lexicon_en_extra.tsv")
ANALYZER = vader.SentimentIntensityAnalyzer()
LEXICON = ANALYZER.lexicon  # this analyzer's own dict: the additions do not reach other users of vaderSentiment
for _line in EXTRA_LEXICON_PATH.read_text(encoding="utf-8").splitlines():
    if _line.strip() and not _line.startswith("#"):
        _word, _valence = _line.rsplit("\t", 1)
        LEXICON[_word] = float(_valence)
_VOCABULARY = {w for w in LEXICON if w.isalpha()} | set(vader.BOOSTER_DICT) | {w for w in vader.NEGATE if w.isalpha()}
TYPOS = TypoIndex(_VOCABULARY, min_len=5, protected=ENGLISH_WORDS)


@functools.lru_cache(maxsize=200_000)
def repair_word(word: str) -> str:
    lower = word.lower()
    if lower in LEXICON or lower in _VOCABULARY or not lower.isalpha():
        return word
    for variant in squeeze_variants(lower):
        if variant in LEXICON:
            return variant.upper() if word.isupper() else variant
    corrected = TYPOS.correct(lower)
    if corrected and corrected != lower:
        return corrected.upper() if word.isupper() else corrected
    return word


def repair(text: str) -> tuple[str, float]:
    """The text with typos repaired and the shared table's emoji and emoticons taken out, and their valence sum."""
    emoji = 0.0

    def sub(match):
        nonlocal emoji
        kind = match.lastgroup
        token = match.group()
        if kind in ("emoji", "emo"):
            emoji += EMOJI.get(token, 0.0)
            return " "
        if kind == "word":
            return repair_word(token)
        return token

    return TOKEN_RE.sub(sub, text), emoji


def compound(text: str) -> float:
    """VADER's compound of the repaired text, with the emoji added to its sum outside VADER's negation (VADER would
    flip an emoticon after "never")."""
    repaired, emoji = repair(text)
    c = ANALYZER.polarity_scores(repaired)["compound"] if repaired.strip() else 0.0
    if not emoji:
        return c
    c = max(-0.9999, min(0.9999, c))
    s = c * math.sqrt(15.0) / math.sqrt(1.0 - c * c) + emoji  # VADER's sum back from its compound, plus the emoji
    return s / math.sqrt(s * s + 15.0)
