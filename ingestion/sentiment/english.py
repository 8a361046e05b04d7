"""English sentiment: vaderSentiment (MIT) per sentence, on a lightly repaired text.

VADER's lexicon gains a few shop-talk words it leaves neutral or misreads (lexicon_en_extra.tsv, the project's own),
and idioms it cannot see ("don't bother", "spot on") become placeholder words with a valence; "far from", "by no
means", "hardly" become "not"; ", yet" becomes "but". Emoji and emoticons of the shared table are taken out and their
valence is added to VADER's sum afterwards (VADER would negate a ":(" after "never"); other emoji are dropped. Words
VADER does not know are mapped to the one lexicon word one typo away ("terible" -> "terrible"), never below five
letters and never an everyday word. Each sentence is scored by VADER (negation, boosters, "but", capitals,
punctuation); a question counts QUESTION_WEIGHT, "neither ... nor" nothing; the sum is squashed like VADER's compound.
"""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path

from vaderSentiment import vaderSentiment as vader

from .language import ENGLISH_EVERYDAY, ENGLISH_WORDS
from .text import EMOJI, TOKEN_RE, TypoIndex, squeeze_variants

EXTRA_LEXICON_PATH = Path(__file__).with_name("lexicon_en_extra.tsv")
ANALYZER = vader.SentimentIntensityAnalyzer()
LEXICON = ANALYZER.lexicon  # this analyzer's own dict: the additions do not reach other users of vaderSentiment
for _line in EXTRA_LEXICON_PATH.read_text(encoding="utf-8").splitlines():
    if _line.strip() and not _line.startswith("#"):
        _word, _valence = _line.rsplit("\t", 1)
        LEXICON[_word] = float(_valence)
_VOCABULARY = {w for w in LEXICON if w.isalpha()} | set(vader.BOOSTER_DICT) | {w for w in vader.NEGATE if w.isalpha()}
_EVERYDAY = ENGLISH_WORDS | set(ENGLISH_EVERYDAY)
TYPOS = TypoIndex(_VOCABULARY, min_len=5, protected=_EVERYDAY)


# Idioms VADER scores wrongly or not at all (general English, the project's own list): each becomes one placeholder
# word with the phrase's valence in this analyzer's lexicon, so VADER's negation and "but" rules still apply to it.
IDIOMS = {
    "don't bother": -2.0, "dont bother": -2.0, "save your money": -2.3, "thanks for nothing": -2.3,
    "never again": -2.5, "waste of money": -2.6, "waste of time": -2.4, "fell apart": -2.3, "falls apart": -2.3,
    "fall apart": -2.3, "came apart": -2.0, "see-through": -1.2, "see through": -1.2, "read the reviews": -2.0,
    "great, another": -2.0, "exceeded my expectations": 2.4, "exceeds expectations": 2.2, "nailed it": 2.4,
    "as i feared": 0.0, "than i feared": 0.0, "than expected": 0.0, "can't say yet": 0.0, "not sure yet": 0.0,
    "stay away": -2.2, "steer clear": -2.2, "rip off": -2.6, "spot on": 2.0, "sorted it out": 1.6,
    "sorted out": 1.4, "need this": 1.6, "want it so bad": 1.6, "want this so bad": 1.6, "obsessed with": 2.0,
    "worth every penny": 2.6, "worth it": 1.6, "worth the money": 1.6, "ten out of ten": 2.6, "10/10": 2.6,
    "five stars": 2.4, "5 stars": 2.4, "one star": -2.0, "1 star": -2.0, "nothing special": -0.9,
    "good or bad": 0.0, "can't complain": 1.4, "cannot complain": 1.4, "no complaints": 1.6,
    "does the job": 1.2, "did the job": 1.2, "as described": 0.8, "not as described": -1.8,
    "couldn't be happier": 3.0, "could not be happier": 3.0, "couldn't be better": 2.8, "would buy again": 2.2,
    "buy again": 1.8, "buy it again": 1.8, "sent it back": -1.4, "sent it straight back": -1.8, "top notch": 2.6,
    "so much for": -1.6, "don't buy": -2.1, "do not buy": -2.1, "nothing more": -0.5, "keeps ignoring": -2.2,
    "let down": -1.8, "letdown": -1.8, "a joke": -1.8, "went above and beyond": 2.8, "above and beyond": 2.6,
}
# Words that negate like "not" although VADER treats them otherwise (as a dampener, or not at all).
NEGATING = {"far from": "not", "by no means": "not", "anything but": "not", "hardly": "not", "scarcely": "not",
            "in no way": "not", "nowhere near": "not", "no longer": "not"}
_PLACEHOLDERS = {}
for _i, (_phrase, _valence) in enumerate(IDIOMS.items()):
    _PLACEHOLDERS[_phrase] = f"zzidiom{chr(97 + _i // 26)}{chr(97 + _i % 26)}"
    LEXICON[_PLACEHOLDERS[_phrase]] = _valence
_PHRASES = {**_PLACEHOLDERS, **NEGATING}
_PHRASE_RE = re.compile(
    r"(?<![\w'])(" + "|".join(re.escape(p) for p in sorted(_PHRASES, key=len, reverse=True)) + r")(?![\w'])",
    re.IGNORECASE,
)
_YET_CONTRAST = re.compile(r",\s*yet\b", re.IGNORECASE)  # ", yet" contrasts like "but"
_SALUTATION = re.compile(r"^\s*(dear|hi|hello|hey)\b", re.IGNORECASE)
_NEITHER_NOR = re.compile(r"\bneither\b.*\bnor\b", re.IGNORECASE)
_SENTENCES = re.compile(r"[^.!?…]+(?:[.!?…]+|$)")
QUESTION_WEIGHT = 0.3
_OTHER_EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\uFE0F\u200D]")


@functools.lru_cache(maxsize=200_000)
def repair_word(word: str) -> str:
    lower = word.lower()
    if lower in LEXICON or lower in _VOCABULARY or not lower.isalpha():
        return word
    variants = (lower, *squeeze_variants(lower))
    for variant in variants[1:]:
        if variant in LEXICON or variant in _VOCABULARY or variant in _EVERYDAY:
            return variant.upper() if word.isupper() else variant
    for variant in variants:
        corrected = TYPOS.correct(variant)
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

    repaired = _OTHER_EMOJI.sub(" ", TOKEN_RE.sub(sub, text))  # emoji outside the table carry no valence here
    repaired = _PHRASE_RE.sub(lambda m: f" {_PHRASES[m.group().lower()]} ", repaired)
    repaired = _SALUTATION.sub(" ", _YET_CONTRAST.sub(" but", repaired))
    return repaired, emoji


def _vader_sum(sentence: str) -> float:
    """VADER's compound of one sentence turned back into its sum of valences (the inverse of its normalisation)."""
    c = ANALYZER.polarity_scores(sentence)["compound"]
    c = max(-0.9999, min(0.9999, c))
    return c * math.sqrt(15.0) / math.sqrt(1.0 - c * c)


def compound(text: str) -> float:
    """VADER per sentence of the repaired text, a question counting QUESTION_WEIGHT and "neither ... nor" nothing,
    plus the emoji outside VADER's negation (VADER would flip an emoticon after "never"); squashed like VADER."""
    repaired, total = repair(text)
    for sentence in _SENTENCES.findall(repaired):
        if not sentence.strip(" .!?…") or _NEITHER_NOR.search(sentence):
            continue
        weight = QUESTION_WEIGHT if sentence.rstrip().endswith("?") else 1.0
        total += weight * _vader_sum(sentence)
    return total / math.sqrt(total * total + 15.0)
