"""German sentiment: the project's own lexicon (lexicon_de.tsv, MIT) with VADER-style rules.

Per sentiment-bearing word: valence from the lexicon; an intensifier or diminisher up to three words before it moves
the valence by VADER's 0.293 (0.95, 0.9 further away); a negator up to three words before ("nicht gut", "kein
Problem", "nicht sehr schnell") multiplies it by -0.74, and so does a clause-final one after it when nothing else
follows ("gefällt mir nicht"); "alles andere als" and "kaum" negate too; a word in capitals amid lower case gains
0.733 (a capitalised intensifier adds it to the word it boosts). Words inside a question count QUESTION_WEIGHT,
inside "weder ... noch" nothing; a salutation opening the text ("Liebes Team") nothing. A contrast word ("aber", "jedoch",
"allerdings", "trotzdem", "sondern") halves what comes before it and weights what follows by 1.5. Emoji and
emoticons add their valence. Exclamation marks (up to three) add 0.292 each in the direction of the sum. The sum is
squashed like VADER's compound: s / sqrt(s^2 + 15), in [-1, 1].
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

from .language import ENGLISH_EVERYDAY, ENGLISH_WORDS, GERMAN_EVERYDAY, GERMAN_WORDS, LOANWORDS
from .text import EMOJI, TypoIndex, fold, squeeze_variants, tokens

LEXICON_PATH = Path(__file__).with_name("lexicon_de.tsv")

NEGATORS = frozenset(
    """nicht nich net nciht ncht nict nihct kein keine keinen keinem keiner keines nie niemals nimmer nichts ohne
    weder nirgends keineswegs keinesfalls mitnichten kaum""".split()
)
# Phrases that negate what follows: "alles andere als schön", "weit entfernt von gut".
NEGATING_PHRASES = (("alles", "andere", "als"), ("weit", "entfernt", "von"), ("alles", "andre", "als"))
POST_NEGATORS = frozenset("nicht nich net nciht ncht nict nie niemals".split())
INTENSIFIERS = {
    w: 1.0
    for w in """sehr extrem total absolut wirklich echt richtig voll mega super ultra so besonders äußerst ausserst
    aeusserst unglaublich unfassbar wahnsinnig enorm hoechst höchst komplett völlig voellig vollkommen durchaus
    definitiv ausgesprochen außergewöhnlich aussergewoehnlich unheimlich ungemein irre krass tierisch derbe zu
    viel viel mehr noch ganz überaus ueberaus herausragend verdammt dermaßen dermassen sowas""".split()
}
INTENSIFIERS.update({"ganz": 0.5, "zu": 0.6, "noch": 0.5, "viel": 0.6, "mehr": 0.4, "so": 0.8})
DIMINISHERS = frozenset(
    """etwas bisschen bissl bisserl wenig leicht eher relativ halbwegs einigermaßen einigermassen ziemlich recht
    teilweise teils manchmal fast beinahe mäßig maessig minimal""".split()
)
CONTRAST = frozenset("aber jedoch allerdings trotzdem dennoch sondern".split())
# Comment adverbs: a "nicht" after them belongs to the verb ("funktioniert leider nicht"), never to them.
NEVER_POST_NEGATED = frozenset("leider schade danke".split())
# Salutations at the start of a text ("Liebes Team", "Lieber Support") are not praise.
SALUTATIONS = frozenset("liebe lieber liebes hallo hi hey".split())
_FOLDED = lambda words: frozenset(fold(w) for w in words)  # noqa: E731
NEGATORS, POST_NEGATORS, DIMINISHERS, CONTRAST = map(_FOLDED, (NEGATORS, POST_NEGATORS, DIMINISHERS, CONTRAST))
INTENSIFIERS = {fold(w): v for w, v in INTENSIFIERS.items()}

B_INCR, N_SCALAR, C_INCR, EP_INCR = 0.293, -0.74, 0.733, 0.292
SUFFIXES = ("esten", "sten", "ste", "eren", "ern", "em", "en", "er", "es", "e", "n", "s", "t", "st", "et")
_CLAUSE_END = frozenset(".!?;…")


def load_lexicon(path: Path = LEXICON_PATH) -> tuple[dict[str, float], dict[tuple[str, str], float]]:
    words, bigrams = {}, {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        term, valence = line.rsplit("\t", 1)
        parts = fold(term).split()
        if len(parts) == 1:
            words[parts[0]] = float(valence)
        else:
            bigrams[tuple(parts[:2])] = float(valence)
    return words, bigrams


LEXICON, BIGRAMS = load_lexicon()
_FUNCTION = NEGATORS | DIMINISHERS | CONTRAST | set(INTENSIFIERS)
# Everyday words of both languages (German texts borrow "Store", "Sale", "Shirt") are never "corrected".
_PROTECTED = GERMAN_WORDS | ENGLISH_WORDS | {fold(w) for w in (*GERMAN_EVERYDAY, *ENGLISH_EVERYDAY, *LOANWORDS)}
TYPOS = TypoIndex(set(LEXICON) | _FUNCTION, min_len=5, protected=_PROTECTED)
NEGATOR_TYPOS = TypoIndex({"nicht", "keine", "niemals"}, min_len=4, protected=_PROTECTED)
BIGRAM_WORDS = TypoIndex({w for pair in BIGRAMS for w in pair}, min_len=5, protected=_PROTECTED)


def _stem_lookup(word: str) -> str | None:
    """The word, or its stem without an inflection ending, or without a participle's "ge-" ("geärgert" -> "ärger"),
    or "lieblings" for a compound of it ("Lieblingsteil")."""
    if word in LEXICON or word in _FUNCTION:
        return word
    for stem in (word, word[2:]) if word.startswith("ge") and len(word) > 6 else (word,):
        if stem in LEXICON:
            return stem
        for suffix in SUFFIXES:
            if stem.endswith(suffix) and len(stem) - len(suffix) >= 3 and stem[: -len(suffix)] in LEXICON:
                return stem[: -len(suffix)]
    if word.startswith("lieblings") and len(word) > 10:
        return "lieblings"
    return None


@functools.lru_cache(maxsize=200_000)
def canonical(word: str) -> str:
    """The lexicon or function word a folded token stands for: itself, de-inflected, de-stretched, or de-typoed."""
    variants = (word, *squeeze_variants(word))
    for candidate in variants:
        found = _stem_lookup(candidate)
        if found:
            return found
    for candidate in variants:
        corrected = TYPOS.correct(candidate) or NEGATOR_TYPOS.correct(candidate) or BIGRAM_WORDS.correct(candidate)
        if corrected:
            return corrected
    for suffix in SUFFIXES:  # an inflected typo: "freundlcihe" -> "freundlich"
        if word.endswith(suffix) and len(word) - len(suffix) >= 6:
            corrected = TYPOS.correct(word[: -len(suffix)])
            if corrected and corrected in LEXICON and len(corrected) >= 6:
                return corrected
    return word


QUESTION_WEIGHT = 0.3  # sentiment words inside a question ("Ist die Jacke gut?") count this much


def _items(text: str) -> list[tuple[str, str, bool]]:
    """(kind, canonical word or token, all caps) per token, with phrases resolved: "alles andere als" becomes a
    negator, "doch" after a comma a contrast word, a salutation opening the text nothing."""
    items = []
    for kind, token in tokens(text):
        if kind == "word":
            items.append(["word", canonical(fold(token)), token.isupper() and len(token) > 1])
        elif kind in ("emo", "punct"):
            items.append([kind, token, False])
    for i in range(len(items)):
        for phrase in NEGATING_PHRASES:
            if tuple(item[1] for item in items[i : i + len(phrase)]) == phrase:
                for j in range(i, i + len(phrase) - 1):
                    items[j][1] = ""
                items[i + len(phrase) - 1][1] = "nicht"
        if items[i][1] == "doch" and (i == 0 or items[i - 1][1] in (",", ";", "…")):
            items[i][1] = "aber"
    first_word = next((i for i, item in enumerate(items) if item[0] == "word"), None)
    if first_word is not None and items[first_word][1] in SALUTATIONS:
        items[first_word][1] = ""
    return [tuple(item) for item in items]


def _sentence_weights(items) -> list[float]:
    """Per token: QUESTION_WEIGHT inside a question, 0 inside "weder ... noch ..." (neither ... nor), else 1."""
    weights = [1.0] * len(items)
    start = 0
    for end in range(len(items) + 1):
        if end < len(items) and not (items[end][0] == "punct" and items[end][1] in _CLAUSE_END):
            continue
        sentence = items[start:end]
        words = [tok for kind, tok, _ in sentence if kind == "word"]
        weight = 1.0
        if end < len(items) and items[end][1] == "?":
            weight = QUESTION_WEIGHT
        if "weder" in words and "noch" in words[words.index("weder") :]:
            weight = 0.0
        for k in range(start, min(end + 1, len(items))):
            weights[k] = weight
        start = end + 1
    return weights


def raw_score(text: str) -> float:
    """The unsquashed sum of valences (see the module docstring)."""
    items = _items(text)
    weights = _sentence_weights(items)
    words_upper = [caps for kind, _, caps in items if kind == "word"]
    cap_emphasis = any(words_upper) and not all(words_upper)
    sentiments: list[float] = []
    contrast_at = -1
    n = len(items)
    skip = set()
    for i, (kind, tok, caps) in enumerate(items):
        if kind == "emo":
            sentiments.append(EMOJI.get(tok, 0.0))
            continue
        if kind != "word":
            sentiments.append(0.0)
            continue
        if tok in CONTRAST:
            contrast_at = i
        if i in skip:
            sentiments.append(0.0)
            continue
        valence = 0.0
        bigram = i + 1 < n and items[i + 1][0] == "word" and (tok, items[i + 1][1]) in BIGRAMS
        if bigram:
            valence = BIGRAMS[(tok, items[i + 1][1])]
            skip.add(i + 1)
            if tok in NEGATORS:  # "nie wieder": the negator is part of the phrase
                sentiments.append(valence * weights[i])
                continue
        else:
            valence = LEXICON.get(tok, 0.0)
        if valence == 0.0 or (tok in INTENSIFIERS and not _before_sentiment_free(items, i)):
            sentiments.append(0.0)
            continue
        if caps and cap_emphasis:
            valence += C_INCR if valence > 0 else -C_INCR
        negated = False
        for distance, weight in ((1, 1.0), (2, 0.95), (3, 0.9)):
            j = i - distance
            if j < 0 or items[j][0] != "word":
                break
            prev = items[j][1]
            if prev in NEGATORS:
                negated = True
            elif prev in INTENSIFIERS:
                boost = B_INCR * INTENSIFIERS[prev] + (C_INCR if items[j][2] and cap_emphasis else 0.0)
                valence += math.copysign(boost * weight, valence)
            elif prev in DIMINISHERS:
                valence -= math.copysign(B_INCR * weight, valence)
        if not negated and not bigram and tok not in NEVER_POST_NEGATED:
            negated = _post_negated(items, i)
        if negated:
            valence *= N_SCALAR
        sentiments.append(valence * weights[i])
    if contrast_at >= 0:
        sentiments = [s * 0.5 if k < contrast_at else s * 1.5 if k > contrast_at else s for k, s in enumerate(sentiments)]
    total = sum(sentiments)
    if total:
        total += math.copysign(min(text.count("!"), 3) * EP_INCR, total)
    return total


def _before_sentiment_free(items, i: int) -> bool:
    """An intensifier that is also a sentiment word ("super", "mega") counts as sentiment only when no sentiment word
    follows it closely ("super!" vs "super schnell")."""
    for j in range(i + 1, min(i + 3, len(items))):
        if items[j][0] != "word":
            return True
        if LEXICON.get(items[j][1]):
            return False
    return True


def _post_negated(items, i: int) -> bool:
    """A clause-final negator after the word: "gefällt mir nicht", "funktioniert leider nie" (not "gut, nicht teuer")."""
    for j in range(i + 1, min(i + 4, len(items))):
        kind, tok, _ = items[j]
        if kind != "word":
            return False
        if tok in POST_NEGATORS:
            for k in range(j + 1, min(j + 4, len(items))):
                if items[k][0] != "word":
                    break
                if LEXICON.get(items[k][1]) or items[k][1] in CONTRAST:
                    return False
            return True
        if (LEXICON.get(tok) and tok not in NEVER_POST_NEGATED) or tok in CONTRAST:
            return False
    return False


def compound(text: str) -> float:
    s = raw_score(text)
    return s / math.sqrt(s * s + 15.0)
