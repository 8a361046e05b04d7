"""Language detection between German and English from function words, spelling and letters (no model, no download)."""

from __future__ import annotations

from .text import fold, tokens

# Frequent function words (folded: umlauts as ae/oe/ue/ss), which carry the language whatever the topic.
GERMAN_WORDS = frozenset(
    """der die das den dem des ein eine einen einem einer eines und oder aber ist sind war waren wird wurde wurden
    bin bist hat habe haben hatte hatten nicht kein keine keinen keiner nie ich du er sie es wir ihr mich mir mein
    meine meinen meiner dich dir dein uns unser euch man mit von zu zum zur im in auf aus bei nach vor fuer ueber
    unter durch ohne gegen um wie was wer wo wann warum weil dass wenn als auch noch schon nur mal doch ja nein sehr
    so zu gar ganz etwas echt wirklich leider bitte danke hier dort heute gestern morgen jetzt immer wieder einfach
    total ziemlich kaum eher allerdings jedoch trotzdem sondern denn also dann dieser diese dieses diesen alles nichts
    viel viele mehr wieso weshalb gibt gab kann koennen konnte muss musste soll will wollte moechte mag geht ging
    kommt kam bestellt bestellung lieferung geliefert paket laden filiale ware preis kunde kundin kundenservice""".split()
)
ENGLISH_WORDS = frozenset(
    """the a an and or but is are was were be been being has have had do does did not no never i you he she it we
    they me my mine your our us them this that these those with from of to for on at in by about into over after
    before what who where when why how which there here very really so too just also still already quite pretty
    rather some any all nothing everything much many more most can could will would should must may might shall
    got get gets again today yesterday tomorrow now always please thanks thank its it's i'm don't didn't isn't wasn't
    doesn't won't can't couldn't than then because if though although however yet store shop order ordered delivery
    delivered package item price customer service""".split()
)
_GERMAN_LETTERS = set("äöüßÄÖÜ")


def language_votes(text: str, german_lexicon: frozenset[str] = frozenset(), english_lexicon: frozenset[str] = frozenset()):
    de = en = 0.0
    for kind, token in tokens(text):
        if kind != "word":
            continue
        word = fold(token)
        in_de, in_en = word in GERMAN_WORDS, word in ENGLISH_WORDS
        if in_de and not in_en:
            de += 1.0
        elif in_en and not in_de:
            en += 1.0
        elif not (in_de or in_en):
            de += 0.5 * (word in german_lexicon) + 0.25 * (word.endswith(("ung", "lich", "keit", "heit", "chen", "sch")))
            en += 0.5 * (word in english_lexicon) + 0.25 * (word.endswith(("ing", "tion", "ly", "ness", "ful")))
        if _GERMAN_LETTERS.intersection(token):
            de += 1.0
    return de, en


def detect(text: str | None, german_lexicon=frozenset(), english_lexicon=frozenset()) -> str | None:
    """"de", "en", or None when the text has no evidence either way (empty, numbers, emoji only, a tie)."""
    if not text or not text.strip():
        return None
    de, en = language_votes(text, german_lexicon, english_lexicon)
    if de > en:
        return "de"
    if en > de:
        return "en"
    return None
