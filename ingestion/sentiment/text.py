"""Shared text handling of the sentiment scorer: tokens, folding (case, umlauts), repeated letters, emoji, typos."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

# Emoji and emoticons with a valence on VADER's scale (-4..4); both languages use the same table.
EMOJI: dict[str, float] = {
    # positive
    "😀": 2.0, "😃": 2.2, "😄": 2.2, "😁": 2.2, "😆": 2.0, "😊": 2.2, "🙂": 1.5, "😉": 1.2, "😍": 3.0, "🥰": 3.0,
    "😘": 2.3, "😎": 1.8, "🤩": 3.0, "😋": 2.0, "🥳": 2.6, "😂": 1.4, "🤣": 1.4, "❤": 2.8, "❤️": 2.8, "♥": 2.5,
    "💕": 2.7, "💖": 2.8, "💙": 2.5, "💚": 2.5, "💛": 2.5, "💜": 2.5, "🧡": 2.5, "😻": 2.7, "👍": 2.0, "👍🏻": 2.0,
    "👍🏼": 2.0, "👍🏽": 2.0, "👌": 1.8, "👏": 2.2, "🙌": 2.4, "💯": 2.4, "🔥": 1.6, "✨": 1.2, "🌟": 1.8, "⭐": 1.6,
    "🎉": 2.4, "🎊": 2.2, "🏆": 2.0, "💪": 1.6, "🙏": 1.5, "☺": 2.0, "☺️": 2.0, "😇": 2.0, "🤗": 2.2, "✅": 1.2,
    "🆒": 1.5, "🥇": 2.0, "😺": 1.8, "😸": 2.0, "🌈": 1.4, "☀": 1.0, "☀️": 1.0, "🌞": 1.4, "🍀": 1.2,
    # negative
    "😞": -2.2, "😟": -2.0, "😠": -2.8, "😡": -3.0, "🤬": -3.3, "😢": -2.3, "😭": -2.5, "😤": -2.2, "😩": -2.3,
    "😫": -2.3, "😖": -2.2, "😣": -2.0, "😒": -1.8, "🙁": -1.6, "☹": -2.0, "☹️": -2.0, "😕": -1.5, "😔": -1.9,
    "😓": -1.7, "😰": -2.0, "😨": -2.0, "😱": -2.2, "🤮": -3.0, "🤢": -2.6, "💩": -2.6, "👎": -2.2, "👎🏻": -2.2,
    "👎🏼": -2.2, "👎🏽": -2.2, "💔": -2.6, "😑": -0.8, "😐": -0.3, "🙄": -1.8, "😬": -1.0, "🤦": -2.0,
    "🤦‍♂️": -2.0, "🤦‍♀️": -2.0, "❌": -1.2, "⚠": -0.8, "⚠️": -0.8, "😾": -2.0, "🥵": -0.8, "🥶": -0.8,
    "😪": -1.2, "😴": -0.6, "🤯": -1.0, "🤡": -1.8, "🐌": -1.0,
    # emoticons
    ":)": 2.0, ":-)": 2.0, "(:": 2.0, ":]": 1.8, "=)": 1.8, ":D": 2.3, ":-D": 2.3, "xD": 1.8, "XD": 1.8, ";)": 1.2,
    ";-)": 1.2, ":P": 1.2, ":-P": 1.2, ":p": 1.2, "<3": 2.5, "^^": 1.5, "^_^": 1.8,
    ":(": -2.0, ":-(": -2.0, "):": -2.0, ":[": -1.8, "=(": -1.8, ":'(": -2.3, ":/": -1.4, ":-/": -1.4, ">:(": -2.8,
    "D:": -2.0, ":|": -0.4, ":-|": -0.4, "</3": -2.6, "-_-": -1.2,
}

_EMOTICONS = sorted((e for e in EMOJI if e.isascii()), key=len, reverse=True)
_EMOJI_CHARS = sorted((e for e in EMOJI if not e.isascii()), key=len, reverse=True)
# Token pattern: emoticons (before punctuation eats them), emoji (longest first), words (letters, inner - or '),
# numbers, then single punctuation marks. Emoticons need a boundary so "Preis:D" style noise is still caught.
TOKEN_RE = re.compile(
    "(?P<emo>(?<![\\w])(?:" + "|".join(re.escape(e) for e in _EMOTICONS) + ")(?![A-Za-z0-9]))"
    "|(?P<emoji>" + "|".join(re.escape(e) for e in _EMOJI_CHARS) + ")"
    "|(?P<word>[^\\W\\d_]+(?:['’-][^\\W\\d_]+)*)"
    "|(?P<num>\\d+(?:[.,]\\d+)?)"
    "|(?P<punct>[!?.,;:…])"
)

_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "’": "'", "é": "e", "è": "e", "á": "a", "à": "a"})
_REPEATS = re.compile(r"(.)\1{2,}")
_DOUBLES = re.compile(r"(.)\1+")
_DOUBLE_UMLAUTS = re.compile(r"([äöüß])\1+")


@functools.lru_cache(maxsize=200_000)
def fold(word: str) -> str:
    """Lower case, umlauts transliterated (ä->ae, ö->oe, ü->ue, ß->ss): "Größe", "groesse" and "GRÖSSE" fold alike."""
    return _DOUBLE_UMLAUTS.sub(r"\1", word.lower()).translate(_FOLD)


def squeeze_variants(word: str) -> list[str]:
    """A word with repeated letters ("suuuper", "bestelllt", "hatteee") as it would be with runs of at most two
    letters and with single letters."""
    if not _DOUBLES.search(word):
        return []
    variants = [_REPEATS.sub(r"\1\1", word), _DOUBLES.sub(r"\1", word)]
    return [v for v in dict.fromkeys(variants) if v != word]


@functools.lru_cache(maxsize=1024)  # language detection and scoring tokenise the same text one after the other
def tokens(text: str) -> tuple[tuple[str, str], ...]:
    """(kind, token) pairs: kind in emo (emoticon or emoji), word, num, punct. Words keep their case."""
    return tuple(
        ("emo" if match.lastgroup == "emoji" else match.lastgroup, match.group()) for match in TOKEN_RE.finditer(text)
    )


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


class TypoIndex:
    """Edit-distance-1 lookup (one letter dropped, added, replaced or two swapped) into a known vocabulary.

    Symmetric-delete index (the SymSpell idea): a word and a typo of it share a one-letter delete. Only words of
    ``min_len`` letters or more are corrected, only when exactly one known word fits (a changed letter must keep
    the first two letters, any typo the first), and never to a protected everyday word, so short, ambiguous or
    everyday tokens stay as they are.
    """

    def __init__(self, vocabulary: Iterable[str], min_len: int = 5, protected: Iterable[str] = ()):
        self.vocabulary = set(vocabulary)
        self.protected = set(protected) - self.vocabulary
        self._known = self.vocabulary | self.protected
        self.min_len = min_len
        self._index: dict[str, set[str]] = {}
        # Protected words are matched too, so that a typo nearer to an everyday word than to a lexicon word is left
        # alone ("bestelt" is "bestellt", not "beste").
        for word in self._known:
            if len(word) >= min_len - 1:
                self._index.setdefault(word, set()).add(word)
                for deleted in _deletes(word):
                    self._index.setdefault(deleted, set()).add(word)

    def correct(self, word: str) -> str | None:
        if len(word) < self.min_len or word in self.protected or not word.isalpha():
            return None
        if word in self.vocabulary:
            return word
        known = self._known
        candidates = set(self._index.get(word, ()))  # the token lost a letter
        for deleted in _deletes(word):  # the token gained, changed or swapped a letter
            if deleted in known:
                candidates.add(deleted)
            candidates.update(self._index.get(deleted, ()))
        candidates = {
            c for c in candidates
            if c[0] == word[0] and (abs(len(c) - len(word)) == 1 or (len(c) == len(word) and c[1] == word[1]))
        }  # fmt: skip
        if len(candidates) != 1:
            return None
        found = candidates.pop()
        return None if found in self.protected else found
