"""Language detection between German and English from function words, spelling and letters (no model, no download)."""

from __future__ import annotations

from .text import fold, squeeze_variants, tokens

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
    doesn't won't can't couldn't anyone someone everyone yes than then because if though although however yet store shop order ordered delivery
    delivered package item price customer service""".split()
)
_GERMAN_LETTERS = set("äöüßÄÖÜ")

# Everyday content words (shopping, clothes, time, people), written for the tie-breaker below: they teach it what
# German and English words look like, letter by letter; no word needs to be in here to be recognised.
GERMAN_EVERYDAY = """jacke jacken mantel hose hosen hemd kleid kleider rock schuhe schuh stiefel tasche taschen muetze schal
    pullover strickjacke regenjacke shirt socken guertel handschuhe groesse groessen farbe farben schwarz weiss blau
    grau rot gruen gelb braun dunkel hell stoff material naht knopf reissverschluss geschenk geschenkidee geburtstag
    weihnachten hochzeit urlaub wochenende woche wochen monat jahr jahre tag tage morgen abend heute gestern gesehen
    gekauft bestellt geliefert bekommen zurueckgeschickt umgetauscht getragen gewaschen waesche waschen tragen kaufen
    bestellen liefern umtauschen anprobieren passen sitzen gehen kommen sehen finden denken glauben wissen fragen
    meinung meinungen jemand niemand etwas alle jeder endlich wieder neu neue neues erste zweite letzte naechste
    lieblingsteil kauf einkauf verkaeuferin verkaeufer beratung kasse umkleide schaufenster geschaeft innenstadt
    versand sendung ruecksendung umtausch gutschein rabatt angebot sommer winter herbst fruehling regen kaelte
    stunden minuten euro cent rechnung konto passwort hotline anruf nachricht antwort frage fragen freundin freund
    mutter vater kinder familie kollegin leute stadt zuhause wohnung arbeit nach hause schon wieder vielleicht
    eigentlich wirklich natuerlich ueberhaupt zusammen zwischen waehrend seit gegenueber naechstes dieses jahres
    hallo servus moin tschuess gruesse liebe leute bitte schoenen""".split()
LOANWORDS = """store stores shop shops sale online hoodie shirt shirts tshirt service support team app newsletter outlet
    parka sneaker sneakers jeans outfit look style design code link email mail paypal dhl hermes ups dpd ticket
    hotline chat update feedback""".split()
ENGLISH_EVERYDAY = """jacket jackets coat trousers pants shirt dress dresses skirt shoes shoe boots bag bags hat scarf
    sweater cardigan raincoat socks belt gloves size sizes colour color colours black white blue grey gray red green
    yellow brown dark light fabric material seam button zipper gift present birthday christmas wedding holiday
    weekend week weeks month year years day days morning evening tonight today yesterday seen saw bought ordered
    delivered received returned exchanged worn washed laundry wash wear buy order deliver exchange try fit sit go
    come see find think believe know ask opinion opinions anyone someone nobody something everyone everything
    finally again new first second last next favourite favorite piece purchase shopping assistant advice checkout
    fitting window downtown shipping shipment return voucher discount offer summer winter autumn fall spring rain
    cold hours minutes euros cents invoice account password hotline call message answer question questions friend
    girlfriend boyfriend mother father kids family colleague people city home flat work maybe actually really
    naturally together between while since opposite thoughts starts start update after weather hello hey thanks
    cheers regards please found find finds needs need needed guess guessed holds hold held sure tried tries trying
    went goes going gone came comes coming made makes making took takes taking gave gives given told tells said says
    asked asks looked looks looking wanted wants wanting used uses using worked works working called calls seemed
    seems felt feels kept keeps left leaves thought thinks brought brings bought sent sends arrived arrives waited
    waits changed changes paid pays showed shows tagged someone anyone everyone people person thing things stuff
    other another every each both either same different little small large big long short high low early later
    first last next own just even ever still yet back away around down out off up where there their they're
    sister brother mother daddy mummy partner wife husband son daughter size colour model version weather""".split()


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


def _trigram_counts(words):
    from collections import Counter

    counts = Counter()
    for word in words:
        padded = f"^{word}$"
        counts.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return counts


def _trigram_models(corpora: dict[str, list[str]]) -> dict[str, tuple[dict[str, float], float]]:
    """Log-probabilities of letter trigrams per language, add-one smoothed over the trigrams of all languages."""
    import math

    counts = {language: _trigram_counts(words) for language, words in corpora.items()}
    vocabulary = len(set().union(*counts.values())) + 1
    models = {}
    for language, grams in counts.items():
        total = sum(grams.values()) + vocabulary
        models[language] = ({g: math.log((c + 1) / total) for g, c in grams.items()}, math.log(1 / total))
    return models


_MODELS: dict[str, tuple[dict[str, float], float]] = {}


def trigram_language(text: str, german_lexicon=frozenset(), english_lexicon=frozenset()) -> str | None:
    """The tie-breaker: which language's letter trigrams (learnt from the word lists here, of similar size) make
    the text's words likelier. For texts without function words: "Traumjacke!!", "Avoid!", "Anyone?"."""
    if not _MODELS:
        _MODELS.update(
            _trigram_models(
                {
                    "de": [*GERMAN_WORDS, *map(fold, GERMAN_EVERYDAY)],
                    "en": [*ENGLISH_WORDS, *ENGLISH_EVERYDAY],
                }
            )
        )
    score = {"de": 0.0, "en": 0.0}
    seen = False
    for kind, token in tokens(text):
        if kind != "word":
            continue
        seen = True
        word = fold(token)
        padded = f"^{(squeeze_variants(word) or [word])[-1]}$"
        for language, (logp, unseen) in _MODELS.items():
            score[language] += sum(logp.get(padded[i : i + 3], unseen) for i in range(len(padded) - 2))
    if not seen or score["de"] == score["en"]:
        return None
    return "de" if score["de"] > score["en"] else "en"


def detect(text: str | None, german_lexicon=frozenset(), english_lexicon=frozenset()) -> str | None:
    """"de", "en", or None when the text has no words (empty, numbers, emoji only).

    Function words decide (each one unique to a language is a vote, an umlaut or ß another); a tie goes to the letter
    trigram model."""
    if not text or not text.strip():
        return None
    de, en = language_votes(text, german_lexicon, english_lexicon)
    if de > en:
        return "de"
    if en > de:
        return "en"
    return trigram_language(text, german_lexicon, english_lexicon)
