"""Texts people write about the brand, in German and English, each with the sentiment a human would give it.

The demo world's social comments, mentions, share messages and shop reviews come from ``make_text``; the sentiment
scorer is tuned and measured on ``corpus``. A text is composed from pools of phrasings (products, adjectives,
intensifiers, diminishers, negations, contrasts, complaints, questions, facts, emoji) and then typed the way people
type: typos, stretched vowels, lower or upper case, repeated punctuation. Positive texts hide negative words ("not bad
at all", "a bit pricey, but ..."), negative ones hide positive words ("not very comfortable", "looks great, but ..."),
neutral ones ask and tell with both ("Is it good for hiking?", "Weder gut noch schlecht."), and some carry their
sentiment only in an emoji, so that a keyword lookup alone scores poorly.

Splits: ``"tune"`` (a scorer may be tuned on it), ``"heldout"`` (never used for tuning) and ``"world"`` (what the
demo world writes). About a quarter of every pool's entries are *reserved* (chosen by a stable hash of the entry):
only ``"heldout"`` uses them (and prefers them), so a scorer tuned on ``"tune"`` is measured on wordings it has not
seen. Pure Python; deterministic in its random generator.
"""

from __future__ import annotations

import random
import re
import string
import zlib

LANGUAGES = ("de", "en")
LABELS = ("negative", "neutral", "positive")
KINDS = ("comment", "mention", "share", "review")
SPLITS = ("tune", "heldout", "world")

# Subjects: (noun phrase, verb) and which adjectives fit them.
_P = {
    "en": {
        "product": (
            ("The jacket", "is"), ("This jacket", "is"), ("The rain jacket", "is"), ("The sneakers", "are"),
            ("My new boots", "are"), ("The bag", "is"), ("The backpack", "is"), ("The shirt", "is"),
            ("The quality", "is"), ("The fit", "is"), ("The material", "is"), ("The hoodie", "is"),
            ("These trainers", "are"), ("The leather belt", "is"), ("The fleece", "is"), ("The stitching", "is"),
        ),
        "service": (
            ("The delivery", "was"), ("Shipping", "was"), ("The customer service", "was"), ("The staff", "were"),
            ("The return", "was"), ("The advice in the store", "was"), ("Your hotline", "was"), ("The checkout", "was"),
        ),
        "pos_product": (
            "comfortable", "well made", "beautiful", "perfect", "great", "lovely", "excellent", "sturdy", "warm",
            "soft", "stunning", "amazing", "gorgeous", "brilliant", "solid", "top notch", "flawless", "superb",
            "cosy", "fantastic", "wonderful", "good",
        ),
        "neg_product": (
            "uncomfortable", "cheaply made", "disappointing", "tight", "scratchy", "bad", "awful",
            "terrible", "flimsy", "horrible", "poor", "useless", "rubbish", "see-through", "dreadful", "shoddy",
        ),
        "pos_service": (
            "fast", "quick", "friendly", "helpful", "smooth", "great", "excellent", "easy", "fantastic",
            "lightning fast", "spot on", "brilliant", "good",
        ),
        "neg_service": (
            "slow", "a mess", "a disaster", "terrible", "rude", "useless", "awful", "chaotic", "unhelpful",
            "a nightmare", "horrible", "bad",
        ),
        # Negative adjectives that, negated, read as praise ("not bad at all").
        "neg_negatable": ("bad", "disappointing", "uncomfortable", "overpriced", "scratchy", "flimsy", "too small"),
        "intensifier": (
            "very", "really", "so", "extremely", "super", "incredibly", "absolutely", "totally", "seriously",
            "ridiculously", "insanely", "truly", "properly",
        ),
        "diminisher": ("a bit", "slightly", "somewhat", "kind of", "a little", "rather", "fairly", "sort of"),
        # "{S} {v} NEG ADJ" -> the opposite of ADJ
        "negation": (
            "not", "not really", "not exactly", "far from", "anything but", "definitely not", "not at all",
            "by no means", "hardly", "never",
        ),
        # Praise made of a negated negative word.
        "neg_neg": (
            "{S} {v} not {adj} at all", "{S} {v} not {adj}, quite the opposite", "{S} {v} by no means {adj}",
            "{S} {v} nowhere near as {adj} as I feared", "{S} {v} not {adj}, honestly", "Can't say {s} {v} {adj}, not at all",
        ),
        "pos_phrase": (
            "Love it", "Absolutely love it", "Would buy again", "Highly recommend", "Exceeded my expectations",
            "Fits like a glove", "Best purchase this year", "Worth every cent", "Can't complain",
            "No complaints here", "No problems at all", "Arrived a day early", "Super happy with it",
            "So glad I bought it", "Ten out of ten", "My new favourite", "Couldn't be happier",
            "Thanks for the quick help", "Keeps me dry even in heavy rain", "Insanely comfortable",
            "Crazy good value", "The staff in {city} sorted it out in two minutes", "Been wearing it every day since",
            "Nothing to fault", "Never had a better one", "You guys nailed it", "Obsessed with it",
            "Already ordered a second one", "Makes me smile every morning",
        ),
        "neg_phrase": (
            "Never again", "Waste of money", "Broke after two weeks", "The zipper came off on day one",
            "Still waiting for my refund", "Nobody answers the hotline", "Arrived damaged", "Sent it straight back",
            "Would not recommend", "Don't bother", "Total rip-off", "Fell apart after one wash",
            "Three weeks and still no parcel", "Thanks for nothing", "Great, another delayed order \U0001f644",
            "Your support keeps ignoring my emails", "Not worth the money", "Colour faded after the first wash",
            "Sent me the wrong size twice", "Worst customer service ever", "Regret buying it", "Leaks at the seams",
            "The sole came loose after a month", "Charged twice and no one cares", "Hate how it fits",
            "Seriously considering never ordering again", "The store in {city} refused my return",
            "Not happy at all", "So much for quality",
        ),
        "question": (
            "Do you have this in blue?", "What sizes do you have?", "Is this good for hiking?",
            "Does anyone know if the sizes run small?", "When does the {city} store open on Saturdays?",
            "Is the material sustainable?", "Will the sale come back in winter?", "Is the jacket really waterproof?",
            "How long does delivery to Austria take?", "Can I return it in store?", "Is it worth the price?",
            "Anyone tried the new boots yet?", "Is the bad weather version still available?",
            "Does the great green one come in M?", "Which one is warmer, the fleece or the hoodie?",
            "Do you ship to Switzerland?", "Is there a store in {city}?", "How do I wash the leather?",
            "Is this the same model as last year?", "Can I still change my order?",
        ),
        "fact": (
            "Ordered on Monday, tracking says Friday.", "Picked it up in the store today.", "Size 42, black.",
            "Bought it as a gift for my brother.", "Exchanged it for a larger size.",
            "The {city} store is closed on Sundays.", "Got the grey one.", "Parcel came with DHL.",
            "Wearing it to a wedding next week.", "Ordered the M, I'm usually an M.", "Second order this year.",
            "Paid with PayPal.", "It came in a paper bag.", "My sister has the same one.",
            "The store in {city} had it in stock.", "Delivery was on Tuesday.", "Went to the {city} store after work.",
        ),
        "hedge": (
            "Not sure yet, will see how it holds up.", "It's okay, nothing special.", "Neither great nor terrible.",
            "Can't say yet if it's good or bad.", "Some things good, some not so good.", "Haven't worn it yet.",
            "Too early to tell.", "It is what it is.", "Average, I guess.", "Fine for the price, nothing more.",
            "No strong feelings either way.", "Will update after a few weeks.",
        ),
        # "{concession}, but {clause}": the concession has the opposite polarity of the text.
        "concede_neg": (
            "It's a bit pricey", "Delivery took a while", "The box was dented", "Runs slightly small",
            "Not the cheapest", "I was sceptical at first", "The first one had a flaw", "The app kept crashing",
            "The queue in {city} was long", "Had to wait a week",
        ),
        "concede_pos": (
            "Looks great in the photos", "The staff were friendly", "Love the colour", "Delivery was fast",
            "I really wanted to like it", "The design is nice", "Great idea in theory", "The first week was fine",
            "Your ads look amazing", "Nice packaging",
        ),
        "contrast": ("but", "but honestly", "however", "yet", "but then again", "though in the end"),
        "contrast_neg": ("but sadly", "but unfortunately", "but in the end"),
        "contrast_pos": ("but luckily", "but thankfully", "but in the end"),
        "pos_share": (
            "Need this!", "Finally back in stock!", "Guys, this is it", "Want it so bad", "Perfect gift idea",
            "Adding this to my wishlist", "Yes please!", "Dream jacket",
        ),
        "neg_share": (
            "Don't buy this, trust me", "Warning before you order", "Avoid", "Read the reviews first, seriously",
            "Learn from my mistake", "Save your money",
        ),
        "neu_share": (
            "Look what I found", "Thoughts?", "For you?", "Tag someone who needs this", "Saw this today",
            "Anyone?", "Just sharing", "Sale starts Friday",
        ),
        "mention_open": ("Hey @journey, ", "@journey ", "Dear @journey: ", "Hi @journey! ", "cc @journey "),
        "mention_close": (" @journey", " #journey", " @journey #newin", " – @journey", " (@journey)"),
        "sep": (". ", "! ", " ", ", ", " - ", "\n"),
    },
    "de": {
        "product": (
            ("Die Jacke", "ist"), ("Diese Jacke", "ist"), ("Die Regenjacke", "ist"), ("Die Sneaker", "sind"),
            ("Die neuen Stiefel", "sind"), ("Die Tasche", "ist"), ("Der Rucksack", "ist"), ("Das Shirt", "ist"),
            ("Die Qualität", "ist"), ("Die Passform", "ist"), ("Das Material", "ist"), ("Der Hoodie", "ist"),
            ("Die Turnschuhe", "sind"), ("Der Ledergürtel", "ist"), ("Die Fleecejacke", "ist"), ("Die Verarbeitung", "ist"),
        ),
        "service": (
            ("Die Lieferung", "war"), ("Der Versand", "war"), ("Der Kundenservice", "war"), ("Das Personal", "war"),
            ("Die Rücksendung", "war"), ("Die Beratung im Store", "war"), ("Eure Hotline", "war"), ("Der Bestellvorgang", "war"),
        ),
        "pos_product": (
            "bequem", "gut verarbeitet", "wunderschön", "perfekt", "toll", "klasse", "hochwertig", "robust", "warm",
            "weich", "genial", "spitze", "top", "erstklassig", "traumhaft", "super", "fantastisch", "wunderbar",
            "gemütlich", "einfach nice", "schön", "gut",
        ),
        "neg_product": (
            "unbequem", "billig verarbeitet", "enttäuschend", "eng", "kratzig", "schlecht", "mies",
            "furchtbar", "schrecklich", "minderwertig", "lausig", "durchsichtig", "katastrophal", "grottig",
            "unbrauchbar", "schäbig",
        ),
        "pos_service": (
            "schnell", "super schnell", "freundlich", "hilfreich", "unkompliziert", "reibungslos", "top", "kompetent",
            "klasse", "blitzschnell", "vorbildlich", "gut",
        ),
        "neg_service": (
            "langsam", "chaotisch", "eine Katastrophe", "unfreundlich", "eine Zumutung", "unverschämt", "katastrophal",
            "nutzlos", "ein Albtraum", "schlecht", "mies", "unterirdisch",
        ),
        "neg_negatable": ("schlecht", "enttäuschend", "unbequem", "überteuert", "kratzig", "billig", "zu klein"),
        "intensifier": (
            "sehr", "echt", "total", "richtig", "mega", "extrem", "voll", "unglaublich", "wirklich", "super",
            "absolut", "wahnsinnig", "besonders",
        ),
        "diminisher": ("etwas", "ein bisschen", "leicht", "eher", "ein wenig", "irgendwie", "ziemlich", "halbwegs"),
        "negation": (
            "nicht", "nicht wirklich", "überhaupt nicht", "gar nicht", "alles andere als", "keineswegs", "leider nicht",
            "nicht besonders", "kaum", "nie",
        ),
        "neg_neg": (
            "{S} {v} gar nicht {adj}", "{S} {v} überhaupt nicht {adj}, im Gegenteil", "{S} {v} keineswegs {adj}",
            "{S} {v} nicht so {adj} wie befürchtet", "{S} {v} nicht {adj}, ehrlich", "Kann nicht sagen, dass {s} {adj} {v}",
        ),
        "pos_phrase": (
            "Ich liebe sie", "Absolut begeistert", "Würde ich wieder kaufen", "Klare Empfehlung",
            "Hat meine Erwartungen übertroffen", "Passt wie angegossen", "Bester Kauf dieses Jahr", "Jeden Cent wert",
            "Kann mich nicht beklagen", "Keine Probleme", "Nichts auszusetzen", "Kam einen Tag früher als angekündigt",
            "Bin super zufrieden", "Bin sehr glücklich damit", "Zehn von zehn", "Mein neues Lieblingsteil",
            "Danke für die schnelle Hilfe", "Hält auch bei Starkregen dicht", "Wahnsinnig bequem", "Verdammt gut",
            "Im Store in {city} wurde mir sofort geholfen", "Trage sie seitdem jeden Tag", "Mega nice",
            "Da gibt es nichts zu meckern", "Hätte nicht gedacht, dass sie so gut ist", "Ihr habt es echt drauf",
            "Hab gleich noch eine zweite bestellt", "Macht jeden Morgen gute Laune", "Ohne Probleme geklappt",
        ),
        "neg_phrase": (
            "Nie wieder", "Geldverschwendung", "Nach zwei Wochen kaputt", "Der Reißverschluss ist am ersten Tag abgerissen",
            "Warte immer noch auf meine Erstattung", "Die Hotline ist nie erreichbar", "Kam beschädigt an",
            "Sofort zurückgeschickt", "Kann ich nicht empfehlen", "Finger weg", "Totale Abzocke",
            "Nach einer Wäsche hinüber", "Drei Wochen und noch immer kein Paket", "Danke für nichts",
            "Toll, schon wieder eine verspätete Bestellung \U0001f644", "Euer Support ignoriert meine Mails",
            "Das Geld nicht wert", "Farbe nach der ersten Wäsche verblasst", "Zweimal die falsche Größe geschickt",
            "Schlechtester Kundenservice überhaupt", "Bereue den Kauf", "Die Nähte sind undicht",
            "Ärgere mich total", "Die Sohle hat sich nach einem Monat gelöst", "Doppelt abgebucht und keiner meldet sich",
            "Der Store in {city} wollte den Umtausch nicht annehmen", "Bin gar nicht zufrieden", "So viel zum Thema Qualität",
            "Hab mich selten so geärgert",
        ),
        "question": (
            "Gibt es die auch in Blau?", "Welche Größen habt ihr?", "Ist die zum Wandern gut geeignet?",
            "Fällt die eher klein aus?", "Wann öffnet der Store in {city} samstags?", "Ist das Material nachhaltig?",
            "Kommt der Sale im Winter wieder?", "Ist die Jacke wirklich wasserdicht?",
            "Wie lange dauert der Versand nach Österreich?", "Kann ich im Store umtauschen?", "Lohnt sich der Preis?",
            "Hat jemand die neuen Stiefel schon getestet?", "Gibt es die Schlechtwetter-Version noch?",
            "Gibt es die tolle grüne auch in M?", "Was ist wärmer, die Fleecejacke oder der Hoodie?",
            "Liefert ihr in die Schweiz?", "Gibt es einen Store in {city}?", "Wie wasche ich das Leder?",
            "Ist das dasselbe Modell wie letztes Jahr?", "Kann ich meine Bestellung noch ändern?",
        ),
        "fact": (
            "Am Montag bestellt, laut Tracking kommt sie Freitag.", "Heute im Store abgeholt.", "Größe 42, schwarz.",
            "War ein Geschenk für meinen Bruder.", "Gegen eine Nummer größer umgetauscht.",
            "Der Store in {city} hat sonntags zu.", "Hab die graue genommen.", "Paket kam mit DHL.",
            "Trage sie nächste Woche auf einer Hochzeit.", "Hab M bestellt, trage sonst auch M.",
            "Zweite Bestellung dieses Jahr.", "Mit PayPal bezahlt.", "Kam in einer Papiertüte.",
            "Meine Schwester hat die gleiche.", "Der Store in {city} hatte sie vorrätig.", "Lieferung war am Dienstag.",
            "Nach der Arbeit im Store in {city} gewesen.",
        ),
        "hedge": (
            "Noch nicht sicher, mal sehen wie sie sich hält.", "Ganz okay, nichts Besonderes.", "Weder gut noch schlecht.",
            "Kann noch nicht sagen, ob sie gut oder schlecht ist.", "Manches gut, manches nicht so.",
            "Hab sie noch nicht getragen.", "Zu früh für ein Urteil.", "Ist halt so.", "Durchschnitt, würde ich sagen.",
            "Für den Preis in Ordnung, mehr nicht.", "Weder begeistert noch enttäuscht.", "Melde mich nach ein paar Wochen nochmal.",
        ),
        "concede_neg": (
            "Etwas teuer", "Die Lieferung hat gedauert", "Der Karton war eingedrückt", "Fällt etwas klein aus",
            "Nicht ganz billig", "War erst skeptisch", "Das erste Exemplar hatte einen Fehler", "Die App ist ständig abgestürzt",
            "Die Schlange in {city} war lang", "Musste eine Woche warten",
        ),
        "concede_pos": (
            "Sieht auf den Fotos toll aus", "Das Personal war freundlich", "Die Farbe ist schön", "Die Lieferung war schnell",
            "Wollte sie wirklich mögen", "Das Design ist hübsch", "Gute Idee eigentlich", "Die erste Woche war okay",
            "Eure Werbung sieht super aus", "Schöne Verpackung",
        ),
        "contrast": ("aber", "aber ehrlich gesagt:", "doch", "– aber", "aber am Ende:", "jedoch:"),
        "contrast_neg": ("aber leider:", "aber leider", "nur leider:"),
        "contrast_pos": ("aber zum Glück", "aber zum Glück:", "aber dafür"),
        "pos_share": (
            "Das muss ich haben!", "Endlich wieder da!", "Leute, das ist sie", "Will ich so sehr", "Perfekte Geschenkidee",
            "Kommt auf meine Wunschliste", "Ja bitte!", "Traumjacke",
        ),
        "neg_share": (
            "Bloß nicht kaufen, glaubt mir", "Warnung, bevor ihr bestellt", "Finger weg", "Lest erst die Bewertungen",
            "Lernt aus meinem Fehler", "Spart euch das Geld",
        ),
        "neu_share": (
            "Schaut mal, was ich gefunden hab", "Meinungen?", "Für dich?", "Markiert jemanden, der das braucht",
            "Heute gesehen", "Jemand?", "Nur zur Info", "Sale startet Freitag",
        ),
        "mention_open": ("Hey @journey, ", "@journey ", "Liebes @journey-Team: ", "Hallo @journey! ", "cc @journey "),
        "mention_close": (" @journey", " #journey", " @journey #neuhier", " – @journey", " (@journey)"),
        "sep": (". ", "! ", " ", ", ", " - ", "\n"),
    },
}
CITIES = ("Köln", "Berlin", "Hamburg", "München", "Leipzig", "Bremen", "Dresden", "Stuttgart")
_EMOJI = {
    "positive": ("\U0001f60d", "\U0001f44d", "\u2764\ufe0f", "\U0001f64c", "\U0001f60a", "\U0001f525", "\U0001f4af",
                 ":)", ":-)", "<3", ":D", "\U0001f970", "\U0001f44c", "\U0001f929"),
    "negative": ("\U0001f621", "\U0001f44e", "\U0001f61e", ":(", ":-(", "\U0001f624", "\U0001f494", "\U0001f92c",
                 "\U0001f612", ":/", "\U0001f620", "\U0001f62d"),
    "neutral": ("\U0001f914", "\U0001f440", "\U0001f4e6", "\U0001f9e5", "\U0001f45f", "\U0001f6cd\ufe0f", "\U0001f4cd"),
}


def _is_reserved(entry: str) -> bool:
    """A stable quarter of every pool: only the heldout split writes these."""
    return zlib.crc32(entry.encode("utf-8")) % 4 == 0


def _key(entry) -> str:
    return entry if isinstance(entry, str) else " ".join(entry)


def _split_pool(pool: tuple) -> tuple[tuple, tuple]:
    common = tuple(e for e in pool if not _is_reserved(_key(e)))
    reserved = tuple(e for e in pool if _is_reserved(_key(e)))
    if not common:  # never happens with the pools above; keeps tune/world writable if a pool is edited
        return pool, ()
    return common, reserved


_POOLS = {
    language: {name: _split_pool(pool) for name, pool in pools.items()} for language, pools in _P.items()
}
_EMOJI_POOLS = {label: _split_pool(pool) for label, pool in _EMOJI.items()}
_CITY_POOL = _split_pool(CITIES)


def reserved_phrasings(language: str) -> dict[str, tuple]:
    """The reserved entries of every pool of a language (only the heldout split uses them)."""
    return {name: reserved for name, (_, reserved) in _POOLS[language].items() if reserved}


def common_phrasings(language: str) -> dict[str, tuple]:
    """The entries of every pool that every split may use."""
    return {name: common for name, (common, _) in _POOLS[language].items()}


class _Writer:
    def __init__(self, rng: random.Random, language: str, split: str):
        if language not in LANGUAGES:
            raise ValueError(f"language must be one of {LANGUAGES}, not {language!r}")
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
        self.r, self.lang, self.split = rng, language, split

    def pick_from(self, pools: tuple[tuple, tuple]):
        common, reserved = pools
        if self.split == "heldout" and reserved and self.r.random() < 0.5:
            return self.r.choice(reserved)
        return self.r.choice(common)

    def pick(self, name: str):
        return self.pick_from(_POOLS[self.lang][name])

    def fill(self, template: str) -> str:
        if "{city}" in template:
            template = template.replace("{city}", self.pick_from(_CITY_POOL))
        return template

    def emoji(self, label: str) -> str:
        return self.pick_from(_EMOJI_POOLS[label])

    # --- clauses -------------------------------------------------------------------------------------------
    def subject(self) -> tuple[str, str, str]:
        area = "product" if self.r.random() < 0.7 else "service"
        subject, verb = self.pick(area)
        return area, subject, verb

    def adjective(self, area: str, polarity: str) -> str:
        return self.pick(f"{polarity}_{area}")

    def graded(self, adjective: str, polarity: str) -> str:
        r = self.r.random()
        if r < 0.35:
            return f"{self.pick('intensifier')} {adjective}"
        if r < 0.5 and polarity == "neg":  # "a bit disappointing": still negative
            return f"{self.pick('diminisher')} {adjective}"
        return adjective

    def clause(self, polarity: str) -> str:
        """One main clause that says ``polarity`` ("pos" or "neg")."""
        r = self.r.random()
        area, subject, verb = self.subject()
        if r < 0.35:  # plain (graded) adjective
            return f"{subject} {verb} {self.graded(self.adjective(area, polarity), polarity)}"
        if r < 0.55:  # the negated opposite: "not very comfortable", "gar nicht schlecht"
            if polarity == "neg":
                opposite = self.adjective(area, "pos")
                if self.r.random() < 0.3:
                    opposite = f"{self.pick('intensifier')} {opposite}"
                return f"{subject} {verb} {self.pick('negation')} {opposite}"
            subject, verb = self.pick("product")  # "not uncomfortable" is said of things, not of a delivery
            template = self.pick("neg_neg")
            lower = subject[0].lower() + subject[1:]
            return template.format(S=subject, s=lower, v=verb, adj=self.pick("neg_negatable"))
        return self.fill(self.pick(f"{polarity}_phrase"))

    def neutral(self) -> str:
        r = self.r.random()
        if r < 0.4:
            return self.fill(self.pick("question"))
        if r < 0.75:
            return self.fill(self.pick("fact"))
        return self.fill(self.pick("hedge"))

    # --- texts ---------------------------------------------------------------------------------------------
    def body(self, kind: str, label: str) -> str:
        r = self.r.random()
        if label == "neutral":
            parts = [self.neutral()]
            for more in (kind == "review" or r < 0.3, kind == "review" and self.r.random() < 0.4):
                if more:
                    part = self.neutral()
                    if part not in parts:
                        parts.append(part)
            return " ".join(_end(p) for p in parts)
        polarity = "pos" if label == "positive" else "neg"
        other = "neg" if polarity == "pos" else "pos"
        if r < 0.22:  # contrast: the clause after "but"/"aber" carries it
            concession = self.fill(self.pick(f"concede_{other}"))
            but = self.pick("contrast") if self.r.random() < 0.6 else self.pick(f"contrast_{polarity}")
            body = f"{concession}, {but} {_lower_first(self.clause(polarity))}"
        elif r < 0.32:  # a neutral fact whose feeling is only in the emoji
            fact = self.fill(self.pick("fact")).rstrip(".")
            marks = self.emoji(label) + (self.emoji(label) if self.r.random() < 0.5 else "")
            body = f"{fact} {marks}"
        elif r < 0.5:  # fact, then the verdict
            body = f"{self.fill(self.pick('fact'))} {self.clause(polarity)}"
        elif r < 0.65:  # two verdicts
            first, sep = self.clause(polarity), self.pick("sep")
            second = _lower_first(self.clause(polarity)) if self.r.random() < 0.3 else self.clause(polarity)
            body = f"{first}{sep}{second}"
        else:
            body = self.clause(polarity)
        if kind == "review" and self.r.random() < 0.6:
            extra = self.neutral() if self.r.random() < 0.5 else self.clause(polarity)
            body = f"{_end(body)} {_end(extra)}"
        return body

    def text(self, kind: str, label: str) -> str:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        if label not in LABELS:
            raise ValueError(f"label must be one of {LABELS}, not {label!r}")
        if kind == "share" and self.r.random() < 0.6:
            short = {"positive": "pos_share", "negative": "neg_share", "neutral": "neu_share"}[label]
            text = self.pick(short)
        else:
            text = self.body(kind, label)
        text = self.type_it(text, label)
        if kind == "mention":
            if self.r.random() < 0.5:
                text = self.pick("mention_open") + text
            else:
                text = text + self.pick("mention_close")
        return text

    def type_it(self, text: str, label: str) -> str:
        """Punctuation, emoji, typos and case as people type them."""
        r = self.r
        text = text.strip()
        if text and text[-1] not in ".!?)" and r.random() < 0.6:
            text += r.choice(("!", "!!", "!!!", ".", "...")) if label != "neutral" else r.choice((".", "", "..."))
        elif text.endswith("?") and r.random() < 0.2:
            text += "?"
        if r.random() < 0.35:
            emoji = self.emoji(label) if r.random() < 0.8 else self.emoji("neutral")
            text = f"{text} {emoji}" if r.random() < 0.85 else f"{emoji} {text}"
        for _ in range(r.choice((0, 0, 1, 1, 2))):
            text = _typo(r, text)
        c = r.random()
        if c < 0.15:
            text = text.lower()
        elif c < 0.19 and len(text) < 60:
            text = text.upper()
        elif c < 0.27:
            words = text.split(" ")
            i = r.randrange(len(words))
            words[i] = words[i].upper()
            text = " ".join(words)
        return text


_WORD = re.compile(r"[^\W\d_]{4,}")
_UMLAUTS = {"ä": "a", "ö": "o", "ü": "u", "ß": "ss", "Ä": "A", "Ö": "O", "Ü": "U"}


def _typo(r: random.Random, text: str) -> str:
    """One slip of the thumb in a word of four letters or more."""
    words = list(_WORD.finditer(text))
    if not words:
        return text
    m = r.choice(words)
    w = m.group()
    kind = r.randrange(5)
    i = r.randrange(1, len(w) - 1)
    if kind == 0:  # swapped neighbours
        w = w[:i] + w[i + 1] + w[i] + w[i + 2:]
    elif kind == 1:  # a letter dropped
        w = w[:i] + w[i + 1:]
    elif kind == 2:  # a letter doubled
        w = w[:i] + w[i] + w[i:]
    elif kind == 3:  # a stretched vowel ("soooo guuut")
        vowels = [k for k, ch in enumerate(w) if ch.lower() in "aeiouäöü"]
        if vowels:
            k = r.choice(vowels)
            w = w[:k] + w[k] * r.randint(2, 4) + w[k + 1:]
    else:  # no umlauts on this keyboard
        w = "".join(_UMLAUTS.get(ch, ch) for ch in w) if any(ch in _UMLAUTS for ch in w) else w[:i] + w[i + 1:]
    return text[: m.start()] + w + text[m.end():]


def _end(sentence: str) -> str:
    sentence = sentence.strip()
    return sentence if sentence[-1:] in ".!?)" or not sentence[-1:].isalnum() else sentence + "."


# First words that are no nouns: after a comma they lose their capital (German nouns keep theirs).
_DE_LOWER = frozenset(
    "die der das diese eure euer ich bin kam kann hat hab hätte würde passt trage hält nie nach sofort warte so da ihr "
    "macht ohne im absolut klare keine nichts bester mein zehn jeden danke wahnsinnig verdammt mega totale drei toll "
    "zweimal schlechtester bereue ärgere doppelt".split()
)
_EN_FIRST = frozenset(
    _key(e).split(" ", 1)[0].lower() for name in ("product", "service", "pos_phrase", "neg_phrase", "neg_neg") for e in _P["en"][name]
)


def _lower_first(clause: str) -> str:
    """A clause after a comma: its first word in lower case, unless it is "I", shouted, or a German noun."""
    first = clause.split(" ", 1)[0]
    if first.isupper() or first == "I'm" or not first[:1].isupper():
        return clause
    if first.lower() in _DE_LOWER or (first.isascii() and first.lower() in _EN_FIRST):
        return clause[0].lower() + clause[1:]
    return clause


def make_text(rng: random.Random, kind: str, language: str, label: str, split: str = "world") -> str:
    """One ``kind`` text in ``language`` whose true sentiment is ``label`` (as a human would read it)."""
    return _Writer(rng, language, split).text(kind, label)


def corpus(split: str, n: int = 3000, seed: int = 0) -> list[dict]:
    """``n`` labelled texts ``{text, language, label, kind}``, balanced over languages and labels.

    Deterministic in ``(split, n, seed)``; a shorter corpus is the beginning of a longer one.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    rng = random.Random(f"texts:{split}:{seed}")
    combos = [(language, label) for language in LANGUAGES for label in LABELS]
    rows = []
    for i in range(n):
        language, label = combos[i % len(combos)]
        kind = rng.choice(KINDS)
        rows.append({"text": make_text(rng, kind, language, label, split), "language": language, "label": label, "kind": kind})
    return rows


def template_literals(entry) -> list[str]:
    """The literal pieces of a pool entry (its text between ``{placeholders}``), for checks on where it shows up."""
    return [literal for literal, *_ in string.Formatter().parse(_key(entry)) if literal]


_TITLES = {
    "en": {
        "positive": ("Love it", "Great buy", "Top quality", "Very happy", "Perfect fit", "Recommended", "Five stars"),
        "neutral": ("Okay", "As expected", "Average", "First impressions", "It's fine", "Mixed"),
        "negative": ("Disappointed", "Not again", "Poor quality", "Returned it", "Avoid", "Not worth it"),
    },
    "de": {
        "positive": ("Top!", "Sehr zufrieden", "Klasse Qualität", "Super", "Passt perfekt", "Empfehlenswert", "Fünf Sterne"),
        "neutral": ("Okay", "Wie erwartet", "Durchschnitt", "Erster Eindruck", "Geht so", "Gemischt"),
        "negative": ("Enttäuscht", "Nie wieder", "Schlechte Qualität", "Zurückgeschickt", "Finger weg", "Nicht zu empfehlen"),
    },
}


def review_title(rng: random.Random, language: str, label: str) -> str:
    """A review's short title in ``language`` that fits ``label`` (the shop shows it above the text)."""
    return rng.choice(_TITLES[language][label])
