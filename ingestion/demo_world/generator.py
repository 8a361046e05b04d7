"""A seeded, deterministic demo world: people and what five source systems know about them.

Every person has identifiers that differ across systems (shop customer ids, emails varying in case and
whitespace, loyalty members and cards, social handles, device ids). ``World.ground_truth`` maps every
source identifier, in the canonical form the warehouse normalises to, to the person it belongs to.

People write in German or English (about 60 % German): social comments, mentions, share messages and shop
product reviews come from ``texts.make_text`` with a sentiment drawn per kind; ``World.text_truth`` keeps each
text's true label, next to the ground truth. Posts carry their reach.

The same ``(seed, people, days)`` always produces exactly the same world: there is no clock and no
global random state in here.
"""

from __future__ import annotations

import gc
import hashlib
import random
from array import array
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ..sources._contracts import normalize_identifier
from . import texts as demo_texts
from .columnar import ColumnRows, json_text, ndjson_line_array, utc_hour_text, utc_text
from . import value as value_process
from .journeys import Account, StorefrontBuilder, legacy_event_draws as _legacy_event_draws

END = datetime(2026, 9, 30, tzinfo=timezone.utc)

FIRST_NAMES = (
    "anna ben clara david emma felix greta hugo ida jonas karla leon mia noah olga paul "
    "quinn rosa sven tara ugo vera wim xenia yusuf zoe amir bea carl dana eli fatima"
).split()
LAST_NAMES = (
    "schmidt mueller weber fischer meyer wagner becker hoffmann koch richter klein wolf "
    "neumann schwarz braun zimmermann krueger hartmann lange werner lehmann krause"
).split()
# The names people are given (drawn from a stream of their own, so the rest of the world keeps its draws); the
# two short lists above are the skeleton's, whose draws stay.
GIVEN_NAMES = (
    "anna ben clara david emma felix greta hugo ida jonas karla leon mia noah olga paul quinn rosa sven tara "
    "vera wim xenia yusuf zoe amir bea carl dana eli fatima lena lukas marie finn sophie elias hannah jakob lea "
    "maximilian laura moritz julia tim sarah jan lisa niklas johanna philipp katharina simon nina tobias anja "
    "florian sandra matthias petra stefan sabine thomas andrea michael claudia markus susanne frank birgit "
    "kerstin dirk heike uwe monika juergen ursula klaus renate wolfgang helga dieter ingrid emre aylin mehmet "
    "elif lukasz agnieszka ivan olena marco giulia"
).split()
FAMILY_NAMES = (
    "schmidt mueller weber fischer meyer wagner becker hoffmann koch richter klein wolf neumann schwarz braun "
    "zimmermann krueger hartmann lange werner lehmann krause schulz schneider bauer schaefer schroeder "
    "schmitz kaiser fuchs peters scholz moeller jung hahn keller vogel friedrich guenther roth beck lorenz "
    "baumann franke albrecht winkler ludwig simon boehm kraft schuster jaeger otto sommer gross seidel heinrich "
    "brandt haas schreiber graf schulte dietrich ziegler kuhn kuehn pohl engel horn busch bergmann thomas "
    "voigt sauer arnold wolff pfeiffer yilmaz kaya demir nowak kowalski rossi ferrari petrov kovac hansen "
    "jansen berger martin kraus walter koenig huber mayer frank maier herrmann kessler"
).split()
# Real-looking German postcode areas: a city, the range of its postcodes, and 30 postcodes spread over that range
# (what 20,000 customers of a retailer in 26 cities would give; a household shares one).
CITY_POSTCODE_RANGES = (
    ("Berlin", 10115, 14199), ("Hamburg", 20095, 22769), ("München", 80331, 81929), ("Köln", 50667, 51149),
    ("Frankfurt am Main", 60306, 65936), ("Stuttgart", 70173, 70629), ("Düsseldorf", 40210, 40629),
    ("Leipzig", 4103, 4357), ("Dresden", 1067, 1328), ("Hannover", 30159, 30669), ("Nürnberg", 90402, 90491),
    ("Bremen", 28195, 28779), ("Dortmund", 44135, 44388), ("Essen", 45127, 45359), ("Bonn", 53111, 53229),
    ("Münster", 48143, 48167), ("Heidelberg", 69115, 69126), ("Freiburg im Breisgau", 79098, 79117),
    ("Kiel", 24103, 24159), ("Rostock", 18055, 18147), ("Erfurt", 99084, 99099), ("Mainz", 55116, 55131),
    ("Regensburg", 93047, 93059), ("Augsburg", 86150, 86199), ("Karlsruhe", 76131, 76229), ("Mannheim", 68159, 68309),
)
CITIES = tuple(
    (city, tuple(f"{low + (high - low) * k // 29:05d}" for k in range(30))) for city, low, high in CITY_POSTCODE_RANGES
)
STREETS = ("Hauptstraße", "Bahnhofstraße", "Gartenweg", "Lindenallee", "Schulstraße", "Bergstraße", "Kirchplatz", "Ringstraße")
# What tills and checkouts type when a customer will not give a number (one system each).
PLACEHOLDER_PHONES = {"loyalty": ("0000000000", "+49 000 0000000", "0000 000000"), "shop": ("+490000000000", "0000000000")}
DOMAINS = ("mail.test", "post.test", "inbox.test", "web.test")
WORK_DOMAINS = ("corp.test", "office.test")
CHANNELS = ("instagram", "facebook", "tiktok")
STORES = tuple(f"store-{i:02d}" for i in range(1, 9))
CATEGORIES = ("shoes", "jackets", "bags", "shirts", "accessories", "outdoor")
# Social media (Graph API edges of our page): which edge serves each kind of interaction.
SOCIAL_EDGES = {"comment": "comments", "mention": "tags", "like": "reactions", "share": "sharedposts", "check_in": "checkins"}
GRAPH_TIME = "%Y-%m-%dT%H:%M:%S%z"
# ASCII letters, digits and "_" -> their full-width forms (what a phone keyboard in CJK mode types).
FULL_WIDTH = {c: c + 0xFEE0 for c in range(0x21, 0x7F)}
POST_TEXTS = (
    "Neue Herbstkollektion ist da! 🍂 Jetzt online und in allen Stores.",
    "New drop: waterproof jackets for rainy city days.",
    "Wochenend-Sale: 20 % auf alle Taschen.",
    "Behind the scenes of our autumn shoot.",
    "Welcher Sneaker ist euer Favorit? Schreibt's in die Kommentare!",
    "Our outdoor line, tested in the Alps.",
    "Heute eröffnet unser neuer Store – kommt vorbei!",
    "Three ways to style the classic white shirt.",
)
COMMENT_TEXTS = (
    "Wunderschön, die Jacke brauche ich!",
    "Gibt es die auch in Blau?",
    "Love this, just ordered one!",
    "Leider nach zwei Wochen kaputt gegangen. Sehr enttäuscht.",
    "Shipping took forever, still waiting for my order.",
    "Super Qualität, trage sie jeden Tag.",
    "What sizes do you have?",
    "Der Kundenservice war richtig hilfreich, danke!",
    "Way too expensive for what it is.",
    "Mega schöne Farben 😍",
    "Meh, the old version was better.",
    "Passt perfekt, danke!",
    "Worst customer service ever, nobody answers.",
    "Ist das Material nachhaltig?",
)
MENTION_TEXTS = (
    "Neue Schuhe von @journey, bin begeistert!",
    "Shoutout to @journey for the fast delivery 🙌",
    "@journey eure Hotline ist seit Tagen nicht erreichbar.",
    "Rainy day outfit, jacket by @journey",
    "Heute im Store gewesen, tolle Beratung @journey",
    "@journey my order arrived damaged, please help",
    "Wanderung mit der neuen Outdoor-Jacke von @journey ⛰️",
    "Not impressed with @journey lately.",
)
# The sentiment people's texts carry, by kind (the texts come from texts.make_text): mentions of a brand are more
# often complaints than comments under its posts; shares mostly recommend.
TEXT_LABEL_WEIGHTS = {
    "comment": {"positive": 0.45, "neutral": 0.3, "negative": 0.25},
    "mention": {"positive": 0.4, "neutral": 0.2, "negative": 0.4},
    "share": {"positive": 0.55, "neutral": 0.35, "negative": 0.1},
    "review": {"positive": 0.5, "neutral": 0.2, "negative": 0.3},
}
# A review's star rating given its sentiment (Judge.me-style product reviews, 1..5 stars).
REVIEW_RATINGS = {"positive": (4, 5, 5), "neutral": (3, 3, 2, 4), "negative": (1, 1, 2)}
REFUNDED_REVIEW = {"positive": 0.1, "neutral": 0.2, "negative": 0.7}
REVIEW_SHARE = 0.4  # of the paid and refunded orders, how many get a review of one of their products
GERMAN_SHARE = 0.6  # of the people who write, how many write in German
SHARE_TEXTS = (
    "Das muss ich haben!",
    "Look what I found 👀",
    "Für dich? 😄",
    "Finally back in stock!",
)


# The ESP's metrics (Klaviyo's names) by the event type the warehouse calls them.
ESP_METRICS = {
    "send": ("RcvEml", "Received Email"),
    "open": ("OpnEml", "Opened Email"),
    "click": ("ClkEml", "Clicked Email"),
    "unsubscribe": ("UnsEml", "Unsubscribed"),
    # a profile held out of a campaign (its control group), recorded the way Braze records one: an event per
    # held-out profile and campaign, at the moment it would have been sent
    "control": ("RcvCtl", "Received Control"),
}
# Campaign holdouts and their causal effect (_esp, _campaign_effects; truth: World.campaign_truth). Each campaign
# holds out this share of the people it would have sent to (by a hash of seed, campaign and person); a treated
# recipient who is a live customer with a shop account buys once more (an online order) with the campaign's effect
# probability, drawn uniformly from CAMPAIGN_EFFECT_RANGE, within CAMPAIGN_WINDOW_DAYS of the campaign's send.
CAMPAIGN_HOLDOUT_SHARE = 0.10
CAMPAIGN_WINDOW_DAYS = 7
CAMPAIGN_EFFECT_RANGE = (0.005, 0.04)
# orjson for World.fingerprint: keys sorted, so equal rows digest equally
FINGERPRINT_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


# IoT readings (_Gen._iot_readings): their metrics and reading id suffixes
IOT_METRICS = pa.array(["steps", "active_minutes", "km_driven", "trips"])
IOT_SUFFIXES = pa.array(["", "-active_minutes", "", "-trips"])


def _iot_reading(row: dict) -> dict:
    """An IoT reading as the gateway sends it, from its row in the readings' table."""
    value = row["value"] / 10 if row["tenths"] else row["value"]
    return {"reading_id": row["reading_id"], "device_id": row["device_id"], "metric": row["metric"], "value": value,
            "recorded_at": row["recorded_at"]}


def _esp_event(row: dict) -> dict:
    """A Klaviyo event resource (``GET /api/events``) from its row in the ESP events' table (_Gen._esp_events)."""
    return {
        "type": "event",
        "id": row["id"],
        "attributes": {
            "timestamp": row["timestamp"],
            "datetime": row["datetime"],
            "uuid": row["uuid"],
            "event_properties": {
                "$message": row["campaign_id"],
                "Campaign Name": row["campaign_name"],
                "Subject": row["subject"],
            },
        },
        "relationships": {
            "profile": {"data": {"type": "profile", "id": row["profile_id"]}},
            "metric": {"data": {"type": "metric", "id": row["metric_id"]}},
        },
    }


def _esp_event_json(table: pa.Table) -> pa.Array:
    """``_esp_event`` of each row as compact JSON (what orjson writes for it), vectorised."""
    return ndjson_line_array([
        ("type", '"event"'), ("id", json_text(table["id"])),
        ("attributes", ['{"timestamp":', pc.cast(table["timestamp"], pa.string()), ',"datetime":', json_text(table["datetime"]),
                        ',"uuid":', json_text(table["uuid"]), ',"event_properties":{"$message":', json_text(table["campaign_id"]),
                        ',"Campaign Name":', json_text(table["campaign_name"]), ',"Subject":', json_text(table["subject"]), "}}"]),
        ("relationships", ['{"profile":{"data":{"type":"profile","id":', json_text(table["profile_id"]),
                           '}},"metric":{"data":{"type":"metric","id":', json_text(table["metric_id"]), "}}}"]),
    ])


def klaviyo_time(ts: datetime) -> str:
    """UTC ISO-8601 with ``+00:00``: how Klaviyo writes a datetime."""
    return ts.astimezone(timezone.utc).isoformat(timespec="seconds")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def iso(ts: datetime) -> str:
    """UTC ISO-8601 with a ``Z``: the wire format of the demo HTTP APIs."""
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def normalize_email(value: str | None) -> str | None:
    return value.strip().lower() if value and value.strip() else None


def normalize_handle(value: str | None) -> str | None:
    """A social handle as the warehouse matches it: NFKC, no whitespace or zero-width characters, no "@", lower case."""
    if value is None:
        return None
    value = normalize_identifier(value).lstrip("@").lower()
    return value or None


def graph_time(ts: datetime) -> str:
    """The Graph API's wire format of a point in time: ``2026-09-01T10:00:00+0000``."""
    return ts.astimezone(timezone.utc).strftime(GRAPH_TIME)


@dataclass
class World:
    """Rows per source system and table, plus the ground truth.

    Each table is a sequence of dicts. The bulk ones (``shop["events"]``, ``esp["events"]``, ``iot["readings"]``, and
    ``journeys``) are :class:`~ingestion.demo_world.columnar.ColumnRows`: read-only sequences of dicts held as Arrow
    columns, so that a world of 10 M events fits in memory and is written without a dict per row (a list of the
    same dicts compares equal to them; ``list(rows)`` gives one)."""

    seed: int
    people: int
    days: int
    start: datetime
    end: datetime
    shop: dict[str, list[dict]] = field(default_factory=dict)
    esp: dict[str, list[dict]] = field(default_factory=dict)
    social: dict[str, list[dict]] = field(default_factory=dict)
    loyalty: dict[str, list[dict]] = field(default_factory=dict)
    # receipts (and their points) of tills that sync late: written after a first load (writers.sync_late_tills),
    # dated a little before the newest receipt; not part of ``tables()`` until then
    loyalty_late: dict[str, list[dict]] = field(default_factory=dict)
    iot: dict[str, list[dict]] = field(default_factory=dict)
    ground_truth: list[dict] = field(default_factory=list)
    # the storefront's journeys as they happened (one row per event id): the person, the visit, the true time
    # and the traps the collector adds; written next to (never inside) the warehouse, like ground_truth
    journeys: list[dict] = field(default_factory=list)
    # the history export (files below <source_systems>/history/): rows per file name (relative path), with the
    # values as the file holds them (CSV: text; Parquet: typed), bad rows included
    history: dict[str, list[dict]] = field(default_factory=dict)
    # the bad rows of ``history``: {"file", "line" (CSV: line in the file, header = 1; Parquet: row, first = 1),
    # "kind" (see value.BAD_ROW_KINDS)}
    history_bad: list[dict] = field(default_factory=list)
    # every text a person wrote (social comments, mentions, share messages, shop reviews) with its true sentiment:
    # {text_id, source, kind, person_id, language, label, occurred_at}; written next to the ground truth
    text_truth: list[dict] = field(default_factory=list)
    # the purchase process (value.py): its true parameters, each buying person's draws, and every purchase
    value_params: dict = field(default_factory=dict)
    value_people: list[dict] = field(default_factory=list)
    value_transactions: list[dict] = field(default_factory=list)
    # consent: every decision a system recorded (person, purpose, granted, decided_at, system, record) and, per person
    # and purpose, the latest of them (what the warehouse must show: consent_truth); written next to the ground truth
    consent_decisions: list[dict] = field(default_factory=list)
    consent_truth: list[dict] = field(default_factory=list)
    # e-mail campaigns: per campaign, who was treated and held out, the true effect and the expected uplift it
    # causes (see _campaign_effects); written next to the ground truth (campaign_uplift_truth.parquet)
    campaign_truth: list[dict] = field(default_factory=list)

    def tables(self) -> dict[str, dict[str, list[dict]]]:
        return {"shop": self.shop, "esp": self.esp, "social": self.social, "loyalty": self.loyalty, "iot": self.iot}

    def iot_consent_periods(self) -> dict[str, list[tuple[datetime, datetime | None]]]:
        """Per device, the spans its consent held: ``[valid_from, valid_to)``, ``valid_to`` None = still holds."""
        history: dict[str, list[tuple[datetime, bool]]] = {}
        for row in [*self.iot.get("devices", []), *self.iot.get("device_changes", [])]:
            history.setdefault(row["device_id"], []).append((_parse(row["updated_at"]), row["opted_in"]))
        periods: dict[str, list] = {}
        for device_id, changes in history.items():
            spans, opened = [], None
            for at, opted in sorted(changes, key=lambda c: c[0]):
                if opted and opened is None:
                    opened = at
                elif not opted and opened is not None:
                    spans.append((opened, at))
                    opened = None
            if opened is not None:
                spans.append((opened, None))
            periods[device_id] = spans
        return periods

    def iot_opted_in(self) -> set[str]:
        """Devices whose consent holds now (at the end of the window)."""
        return {d for d, spans in self.iot_consent_periods().items() if spans and spans[-1][1] is None}

    def iot_consented_readings(self) -> list[dict]:
        """What the warehouse keeps: the readings of devices whose consent holds now (an open period) recorded while
        it held. A device that withdrew keeps none (its readings are deleted from raw on withdrawal)."""
        readings = self.iot.get("readings", [])
        if not isinstance(readings, ColumnRows):
            periods = self.iot_consent_periods()
            now = self.iot_opted_in()

            def held(reading: dict) -> bool:
                if reading["device_id"] not in now:
                    return False
                at = _parse(reading["recorded_at"])
                return any(lo <= at and (hi is None or at < hi) for lo, hi in periods.get(reading["device_id"], ()))

            return [r for r in readings if held(r)]
        return ColumnRows(self.iot_consented_table(), readings._to_row)

    def iot_consented_table(self) -> pa.Table:
        """``iot_consented_readings`` of readings held as columns: the rows of their table, vectorised."""
        table = self.iot["readings"].table
        at = table["recorded_ts"].cast(pa.int64()).to_numpy()  # epoch seconds
        devices = table["device_id"].to_numpy(zero_copy_only=False)
        keep = np.zeros(len(at), dtype=bool)
        now = self.iot_opted_in()
        # readings are in device order: each device's rows are one run
        device_ids, starts, counts = np.unique(devices, return_index=True, return_counts=True)
        bounds = {d: (int(lo), int(lo + n)) for d, lo, n in zip(device_ids, starts, counts)}
        for device_id, spans in self.iot_consent_periods().items():
            if device_id not in now or device_id not in bounds:
                continue
            lo_row, hi_row = bounds[device_id]
            run = at[lo_row:hi_row]
            for lo, hi in spans:
                inside = run >= lo.timestamp()
                if hi is not None:
                    inside &= run < hi.timestamp()
                keep[lo_row:hi_row] |= inside
        return table.filter(pa.array(keep))

    def fingerprint(self) -> str:
        """A digest of every row: equal fingerprints mean identical worlds."""
        digest = hashlib.sha256()
        for system, tables in sorted(self.tables().items()):
            for name, rows in sorted(tables.items()):
                digest.update(f"{system}.{name}".encode())
                if isinstance(rows, ColumnRows):
                    sink = pa.BufferOutputStream()
                    with pa.ipc.new_stream(sink, rows.table.schema) as stream:
                        stream.write_table(rows.table)
                    digest.update(sink.getvalue())
                else:
                    digest.update(orjson.dumps(rows, option=FINGERPRINT_OPTIONS, default=str))
        for name, rows in sorted(self.history.items()):
            digest.update(f"history.{name}".encode())
            digest.update(orjson.dumps(rows, option=FINGERPRINT_OPTIONS, default=str))
        digest.update(orjson.dumps(self.ground_truth, option=FINGERPRINT_OPTIONS))
        return digest.hexdigest()


def _total(lines: list[dict]) -> float:
    return round(sum(line["quantity"] * line["unit_price"] for line in lines), 2)


def _value_lines(rng: random.Random, products: list[dict], amount: float) -> list[dict]:
    """Order lines whose prices add up to ``amount`` exactly: one to three products, the spend shared out by
    their list prices (what was paid for each, after discounts)."""
    cents = round(amount * 100)
    chosen = rng.sample(products, min(rng.choice((1, 1, 1, 2, 2, 3)), cents))
    weights = [p["price"] for p in chosen]
    shares = [max(int(cents * w / sum(weights)), 1) for w in weights[:-1]]
    shares.append(cents - sum(shares))
    return [
        {"line_id": "", "product_id": p["product_id"], "sku": p["sku"], "quantity": 1, "unit_price": share / 100}
        for p, share in zip(chosen, shares)
    ]



# --- the shop as Shopify serves it ------------------------------------------------------------------------

SHOP_DOMAIN = "https://shop.example"
# of the skeleton's refunded orders (a quarter of its orders), the share kept next to the value process's paid ones
REFUNDED_KEPT = 0.15
PRODUCT_ID_BASE, VARIANT_ID_BASE = 7_000_000_000, 40_000_000_000
PRODUCTS_SOLD_OUT = 0.12  # share of the catalogue's products with no stock left
UTM = (
    ("newsletter", "email", "weekly-edit"),
    ("instagram", "social", "autumn-drop"),
    ("google", "cpc", "brand"),
)


def _last_sunday(year: int, month: int) -> datetime:
    last = datetime(year + (month == 12), month % 12 + 1, 1, 1, tzinfo=timezone.utc) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() + 1) % 7)


def shop_time(ts: datetime) -> str:
    """ISO-8601 in the shop's time zone (Europe/Berlin: +02:00 in summer, +01:00 in winter), as Shopify
    writes its timestamps. EU summer time runs from the last Sunday of March to the last Sunday of October,
    01:00 UTC."""
    utc = ts.astimezone(timezone.utc)
    summer = _last_sunday(utc.year, 3) <= utc < _last_sunday(utc.year, 10)
    return utc.astimezone(timezone(timedelta(hours=2 if summer else 1))).isoformat()


def _moment(rng: random.Random, lo: datetime, hi: datetime) -> datetime:
    return lo + timedelta(seconds=rng.randrange(max(int((hi - lo).total_seconds()), 1)))


def _pasted(rng: random.Random, email: str) -> str:
    """An address as some people paste it: now and then with a tab or a zero-width space in it."""
    r = rng.random()
    if r < 0.02:
        return email + "\t"
    if r < 0.04:
        at = email.index("@")
        return email[:at] + "\u200b" + email[at:]
    return email


def _shopify_customer(customer_id, person, email, phone, handle, created, updated, names=None, address=None) -> dict:
    first, last = names or (person["first"].capitalize(), person["last"].capitalize())
    return {
        "id": customer_id,
        "email": email,
        "first_name": first,
        "last_name": last,
        "phone": phone,
        "social_handle": handle,
        "accepts_marketing": person["email_consent"],
        "state": "enabled",
        "created_at": shop_time(created),
        "updated_at": shop_time(updated),
        "default_address": address,
    }


def _shopify_address(customer_id: int, names: tuple[str, str], home: tuple[str, str], street: str) -> dict:
    """A customer's ``default_address`` as the Admin REST API (2024-07) nests it."""
    first, last = names
    postcode, city = home
    return {
        "id": customer_id * 10 + 1,
        "customer_id": customer_id,
        "first_name": first,
        "last_name": last,
        "company": None,
        "address1": street,
        "address2": None,
        "city": city,
        "province": None,
        "country": "Germany",
        "zip": postcode,
        "phone": None,
        "name": f"{first} {last}",
        "province_code": None,
        "country_code": "DE",
        "country_name": "Germany",
        "default": True,
    }


def _line_items(parent_id: int, lines: list[dict]) -> list[dict]:
    items = []
    for n, line in enumerate(lines, start=1):
        number = int(line["product_id"].removeprefix("prod-"))
        items.append(
            {
                "id": parent_id * 10 + n,
                "product_id": PRODUCT_ID_BASE + number,
                "variant_id": VARIANT_ID_BASE + number,
                "sku": line["sku"],
                "quantity": line["quantity"],
                "price": f"{line['unit_price']:.2f}",
            }
        )
    return items


class _Gen:
    def __init__(self, seed: int, people: int, days: int):
        self.rng = random.Random(seed)
        self._profile_person: dict[str, str] = {}  # ESP profile id -> person (who clicked a tracked link)
        self.world = World(seed=seed, people=people, days=days, start=END - timedelta(days=days), end=END)
        self._truth: dict[tuple[str, str], str] = {}
        self._value: dict[str, value_process.ValuePerson] = {}  # the purchase process per buying person
        self._shop_account: dict[str, int] = {}  # person -> the shop account the process buys on
        self._member: dict[str, tuple[str, list[str]]] = {}  # person -> (member id, card numbers)
        self._live_orders: list[tuple] = []  # (person, customer id, order id, purchase) of the process
        self._live_receipts: list[tuple] = []  # (person, receipt id, purchase) of the process
        self._campaign_people: list[tuple] = []  # (campaign, person, delivered, treated): _esp
        self._campaign_orders: list[tuple] = []  # (person, customer id, order id, placed, amount): _campaign_effects
        self._customer_created: dict[int, datetime] = {}  # shop customer id -> when the account was created

    # --- helpers -------------------------------------------------------------------------------------
    def moment(self, after: datetime | None = None) -> datetime:
        lo = max(after or self.world.start, self.world.start)
        span = int((self.world.end - lo).total_seconds())
        return lo + timedelta(seconds=self.rng.randrange(max(span, 1)))

    def vary_email(self, email: str, rng: random.Random | None = None) -> str:
        """The same address as a person types it into different systems (drawn from ``rng``, default the
        world's stream)."""
        rng = rng or self.rng
        r = rng.random()
        if r < 0.25:
            email = email.upper()
        elif r < 0.5:
            email = email[0].upper() + email[1:]
        r = rng.random()
        if r < 0.15:
            email = " " + email
        elif r < 0.3:
            email = email + "  "
        return email

    def truth(self, identifier_type: str, value: str, person_id: str) -> None:
        key = (identifier_type, value)
        assert self._truth.setdefault(key, person_id) == person_id, key
        self._truth[key] = person_id

    # --- the world -----------------------------------------------------------------------------------
    def build(self) -> World:
        rng = self.rng
        products = [
            {
                "product_id": f"prod-{i:03d}",
                "sku": f"SKU-{i:05d}",
                "category": CATEGORIES[i % len(CATEGORIES)],
                "price": round(rng.uniform(9, 240), 2),
            }
            for i in range(1, 61)
        ]
        persons = []
        for i in range(1, self.world.people + 1):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            persons.append(
                {
                    "person_id": f"P{i:05d}",
                    "first": first,
                    "last": last,
                    "email": f"{first}.{last}{i}@{rng.choice(DOMAINS)}",
                    "alt_email": f"{first[0]}{last}{i}@{rng.choice(WORK_DOMAINS)}" if rng.random() < 0.3 else None,
                    "phone": f"+49155{rng.randrange(10**7):07d}" if rng.random() < 0.75 else None,
                    "handle": f"{first}_{last}{i}" if rng.random() < 0.45 else None,
                    "has_shop": rng.random() < 0.85,
                    "has_loyalty": rng.random() < 0.45,
                    "email_consent": rng.random() < 0.65,
                    "device": rng.choice(("wearable", "car")) if rng.random() < 0.15 else None,
                    "iot_opt_in": rng.random() < 0.6,
                }
            )
        self._identities(persons)
        languages = random.Random(f"language:{self.world.seed}")  # the language each person writes in
        for person in persons:
            person["language"] = "de" if languages.random() < GERMAN_SHARE else "en"
        self._value = value_process.draw_people(self.world.seed, persons, self.world.start, self.world.end)
        self._shop(persons, products)
        self.world.shop["products"] = self._products(products)
        self._esp(persons)
        self._campaign_effects(products)
        self._storefront(products)
        self._social(persons)
        self._reviews(persons)
        self._loyalty(persons)
        self._iot(persons)
        self._history(persons)
        self._value_truth()
        self._consents(persons)
        self.world.ground_truth = [
            {"identifier_type": t, "identifier_value": v, "person_id": p} for (t, v), p in sorted(self._truth.items())
        ]
        return self.world

    def _identities(self, persons: list[dict]) -> None:
        """What probabilistic matching needs, and the traps of a real customer base, from a stream of their own.

        Every person gets a name from longer lists (their addresses and handle follow it), a birth year and a
        home (postcode, city). Some moved (``old_home``: one system still has it), some changed their last name
        (``old_last``), some live in a household: the same last name and home, now and then the same landline
        at the till and one family inbox (``familie.<last><n>@...``) used by the household in the ESP (the head),
        the loyalty program and the shop (the others). The skeleton's draws are untouched.
        """
        own = random.Random(f"identity:{self.world.seed}")
        for person in persons:
            n = int(person["person_id"][1:])
            first, last = own.choice(GIVEN_NAMES), own.choice(FAMILY_NAMES)
            self._rename(person, first, last, n)
            city, postcodes = own.choice(CITIES)
            person.update(birth_year=own.randint(1950, 2006), home=(own.choice(postcodes), city), old_home=None,
                          old_last=None, household=None)
            if own.random() < 0.08:  # moved: one system (the loyalty program or the ESP) still has the old address
                old_city, old_postcodes = own.choice(CITIES)
                person["old_home"] = (own.choice(old_postcodes), old_city)
                person["old_home_in"] = own.choice(("loyalty", "esp"))
            if own.random() < 0.05:  # married or divorced: one system (loyalty or shop) still has the old last name
                person["old_last"] = own.choice([name for name in FAMILY_NAMES if name != last])
                person["old_last_in"] = own.choice(("loyalty", "shop"))
        households = 0
        i = 0
        while i < len(persons) - 2:
            if own.random() < 0.06:
                head, members = persons[i], persons[i + 1 : i + 1 + own.randint(1, 2)]
                households += 1
                inbox = f"familie.{head['last']}{households}@{head['email'].split('@')[1]}"
                head["household"] = {"id": households, "head": True, "inbox": inbox, "phone": head["phone"]}
                if own.random() < 0.5:
                    head["esp_email"] = inbox  # the newsletter goes to the family inbox
                for member in members:
                    self._rename(member, member["first"], head["last"], int(member["person_id"][1:]))
                    member.update(home=head["home"], old_home=None, old_last=None)
                    member["household"] = {"id": households, "head": False, "inbox": inbox, "phone": head["phone"]}
                    if own.random() < 0.5:
                        member["loyalty_email"] = inbox
                    if own.random() < 0.25:
                        member["shop_email"] = inbox
                i += 1 + len(members)
            else:
                i += 1

    @staticmethod
    def _name(person: dict, system: str) -> tuple[str, str]:
        """First and last name as ``system`` knows them (an old last name where the change never arrived)."""
        last = person["old_last"] if person.get("old_last") and person.get("old_last_in") == system else person["last"]
        return person["first"].capitalize(), last.capitalize()

    @staticmethod
    def _home(person: dict, system: str) -> tuple[str, str]:
        """(postcode, city) as ``system`` knows them (the old address where the move never arrived)."""
        return person["old_home"] if person.get("old_home") and person.get("old_home_in") == system else person["home"]

    @staticmethod
    def _rename(person: dict, first: str, last: str, n: int) -> None:
        """The person's name, and the addresses and handle made of it (their domains and shape kept)."""
        person["first"], person["last"] = first, last
        person["email"] = f"{first}.{last}{n}@{person['email'].split('@')[1]}"
        if person["alt_email"]:
            person["alt_email"] = f"{first[0]}{last}{n}@{person['alt_email'].split('@')[1]}"
        if person["handle"]:
            person["handle"] = f"{first}_{last}{n}"

    @staticmethod
    def _typo(rng: random.Random, name: str) -> str:
        """A name as somebody typed it in a hurry: two letters swapped, one dropped or one doubled."""
        if len(name) < 4:
            return name + name[-1]
        at = rng.randrange(1, len(name) - 2)
        kind = rng.randrange(3)
        if kind == 0:
            return name[:at] + name[at + 1] + name[at] + name[at + 2 :]
        if kind == 1:
            return name[:at] + name[at + 1 :]
        return name[:at] + name[at] + name[at:]

    def _lines(self, products: list[dict], prefix: str) -> list[dict]:
        lines = []
        for n, product in enumerate(self.rng.sample(products, self.rng.randint(1, 4)), start=1):
            lines.append(
                {
                    "line_id": f"{prefix}-{n}",
                    "product_id": product["product_id"],
                    "sku": product["sku"],
                    "quantity": self.rng.randint(1, 3),
                    "unit_price": product["price"],
                }
            )
        return lines

    def _shop(self, persons: list[dict], products: list[dict]) -> None:
        """The shop as Shopify's Admin API serves it, plus its storefront's web-analytics events.

        Every draw of ``self.rng`` here is the skeleton's, in the same order (the systems generated later
        share that stream); what Shopify's shape adds is drawn from a stream of its own (``extra``).
        """
        rng = self.rng
        extra = random.Random(f"shop-{self.world.seed}")
        ids = random.Random(f"shop-identity:{self.world.seed}")  # names, addresses, placeholder phones
        vrng = random.Random(f"value-shop:{self.world.seed}")  # how the value process's orders look (lines, delays)
        customers, orders, checkouts = [], [], []
        self._accounts, self._anonymous = [], {}  # the storefront's visits, built after the ESP (see _storefront)
        next_customer = 100_001
        for person in persons:
            if not person["has_shop"]:
                continue
            accounts = 2 if rng.random() < 0.04 else 1  # some people open a second account
            buyer = self._value.get(person["person_id"])
            online = [x for x in buyer.purchases if x.channel == "online"] if buyer else []
            for number in range(accounts):
                customer_id = next_customer
                next_customer += 1
                drawn = self.moment()  # the skeleton's moment: its draws below depend on it
                # the value process buys on the first account: it exists by the first online purchase, and its
                # browser is logged in (an hour or more) before the first order in the window
                bought = online if number == 0 else []
                live = [x for x in bought if x.at >= self.world.start]
                login = min(drawn, live[0].at - timedelta(seconds=vrng.randrange(3600, 6 * 3600))) if live else drawn
                created = login
                if bought and bought[0].at < self.world.start:
                    created = bought[0].at - timedelta(seconds=vrng.randrange(600, 3 * 86_400))
                if number == 0 and bought:
                    self._shop_account[person["person_id"]] = customer_id
                self._customer_created[customer_id] = created
                handle = person["handle"] if person["handle"] and rng.random() < 0.6 else None
                if handle and rng.random() < 0.5:
                    handle = "@" + handle.capitalize()
                email = _pasted(extra, self.vary_email(person.get("shop_email") or person["email"]))
                phone = person["phone"] if person["phone"] and rng.random() < 0.6 else None
                if phone is None and ids.random() < 0.05:  # the checkout insists on a number
                    phone = ids.choice(PLACEHOLDER_PHONES["shop"])
                names = self._name(person, "shop")
                address = None
                if ids.random() < 0.8:
                    street = f"{ids.choice(STREETS)} {ids.randint(1, 120)}"
                    address = _shopify_address(customer_id, names, self._home(person, "shop"), street)
                customers.append(
                    _shopify_customer(customer_id, person, email, phone, handle, created, self.moment(drawn), names, address)
                )
                self.truth("shop_customer", str(customer_id), person["person_id"])
                account_orders, account_checkouts = [], []
                # the skeleton's orders: their draws stay; the refunded ones stay too (outside the value process),
                # the paid ones give way to the process's purchases in the window
                placed_orders = []
                for _ in range(rng.choice((0, 0, 1, 1, 2, 3, 4))):
                    placed = self.moment(drawn)
                    lines = self._lines(products, "")
                    refunded = rng.choice(("fulfilled", "fulfilled", "fulfilled", "refunded")) == "refunded"
                    updated = self.moment(placed)
                    if refunded and vrng.random() < REFUNDED_KEPT:
                        placed_orders.append((placed, lines, updated, "refunded", None))
                for purchase in live:
                    lines = _value_lines(vrng, products, purchase.amount)
                    updated = min(purchase.at + timedelta(seconds=vrng.randrange(3600, 5 * 86_400)), self.world.end - timedelta(seconds=1))
                    placed_orders.append((purchase.at, lines, max(updated, purchase.at), "paid", purchase))
                for placed, lines, updated, status, purchase in sorted(placed_orders, key=lambda o: o[0]):
                    order_id = 500_000 + len(orders) + 1
                    lines = [{**line, "line_id": f"{order_id}-{n}"} for n, line in enumerate(lines, start=1)]
                    orders.append(
                        {
                            "id": order_id,
                            "customer": {"id": customer_id},
                            "financial_status": status,
                            "fulfillment_status": "fulfilled",
                            "currency": "EUR",
                            "total_price": f"{purchase.amount:.2f}" if purchase else f"{_total(lines):.2f}",
                            "line_items": _line_items(order_id, lines),
                            "created_at": shop_time(placed),
                            "updated_at": shop_time(updated),
                            "closed_at": shop_time(updated),  # fulfilled orders are archived
                            "cancelled_at": None,
                        }
                    )
                    account_orders.append((order_id, placed, lines))
                    if purchase:
                        self._live_orders.append((person["person_id"], customer_id, order_id, purchase))
                if rng.random() < 0.3:
                    checkout_id = 700_000 + len(checkouts) + 1
                    abandoned = self.moment(drawn)
                    lines = self._lines(products, f"{checkout_id}")
                    checkouts.append(
                        {
                            "id": checkout_id,
                            "customer": {"id": customer_id},
                            "email": _pasted(extra, self.vary_email(person["email"])),
                            "currency": "EUR",
                            "total_price": f"{_total(lines):.2f}",
                            "line_items": _line_items(checkout_id, lines),
                            "created_at": shop_time(abandoned),
                            "updated_at": shop_time(abandoned),
                            "completed_at": None,
                        }
                    )
                    account_checkouts.append((checkout_id, abandoned, lines))
                visitor = f"{extra.getrandbits(64):016x}"  # the browser's first-party cookie
                visits = []  # when the skeleton's browsing visits start, and the product each is about
                for _ in range(rng.randint(2, 20)):
                    occurred = self.moment(drawn)
                    rng.choice(("page_view", "page_view", "product_view", "add_to_cart"))
                    visits.append((occurred, rng.choice(products)))
                    _legacy_event_draws(extra)
                self._accounts.append(
                    Account(customer_id, person["person_id"], visitor, login, visits, account_orders, account_checkouts,
                            registered=login == created)
                )
        for n in range(sum(len(a.visits) for a in self._accounts) // 5):  # visitors who never identify themselves
            occurred = self.moment()
            rng.choice(("page_view", "product_view"))
            product = rng.choice(products)
            _legacy_event_draws(extra)
            visitor = f"{random.Random(f'anon-{self.world.seed}-{n // 3}').getrandbits(64):016x}"
            self._anonymous.setdefault(visitor, []).append((occurred, product))
        deleted, customer_events = self._shop_erasures(extra, persons, next_customer, len(customers))
        self.world.shop = {
            "customers": customers,
            "orders": orders,
            "abandoned_checkouts": checkouts,
            "events": [],  # the storefront's events: _storefront, once the ESP's clicks are known
            # Shopify's Events API: customers deleted or redacted (GDPR customers/redact) since they were created
            "customer_events": customer_events,
            # those customers as they were before: a history the warehouse may have loaded, never served now
            "deleted_customers": deleted,
        }

    def _products(self, products: list[dict]) -> list[dict]:
        """The catalogue as Shopify's Admin API serves it (one variant per product, its stock on that variant):
        mostly in stock, a few sold out (what the cart-abandonment offers must leave out), each updated at some
        moment of the world. Drawn from a stream of its own, so the rest of the world stays as it was."""
        rng = random.Random(f"shop-products:{self.world.seed}")
        rows = []
        for product in products:
            number = int(product["product_id"].removeprefix("prod-"))
            created = self.world.start - timedelta(days=rng.randint(30, 400))
            updated = _moment(rng, self.world.start, self.world.end)
            stock = 0 if rng.random() < PRODUCTS_SOLD_OUT else rng.randint(1, 250)
            rows.append(
                {
                    "id": PRODUCT_ID_BASE + number,
                    "title": f"{product['category'].capitalize()} {number:03d}",
                    "product_type": product["category"],
                    "status": "active",
                    "created_at": shop_time(created),
                    "updated_at": shop_time(updated),
                    "variants": [
                        {
                            "id": VARIANT_ID_BASE + number,
                            "product_id": PRODUCT_ID_BASE + number,
                            "sku": product["sku"],
                            "price": f"{product['price']:.2f}",
                            "inventory_quantity": stock,
                            "updated_at": shop_time(updated),
                        }
                    ],
                }
            )
        return rows

    def _storefront(self, products: list[dict]) -> None:
        """The storefront's web-analytics events, visit by visit (see journeys.py), and their truth."""
        builder = StorefrontBuilder(self.world.seed, self.world.start, self.world.end, products)
        browsers: dict[str, str] = {}  # person -> the browser of their first shop account
        for account in self._accounts:
            builder.account(account)
            browsers.setdefault(account.person_id, account.visitor)
        busy = next((a for a in self._accounts if a.created + timedelta(hours=32) < self.world.end), None)
        if busy:
            builder.marathon_session(busy)
        for visitor, starts in self._anonymous.items():
            builder.anonymous(visitor, starts)
        clicks = self.world.esp["events"]
        if isinstance(clicks, ColumnRows):
            clicks = clicks.where("metric_id", ESP_METRICS["click"][0])
        builder.clicks(clicks, self._profile_person, browsers)
        self.world.shop["events"], self.world.journeys = builder.events()

    def _shop_erasures(self, rng: random.Random, persons: list[dict], next_id: int, live: int) -> tuple[list[dict], list[dict]]:
        """A few shop accounts that were deleted or redacted: nobody's identifiers any more (no ground truth)."""
        shoppers = [p for p in persons if p["has_shop"]]
        deleted, customer_events = [], []
        verbs = ["destroy"] * (2 + live // 400) + ["redact"] * (1 + live // 600)
        for n, verb in enumerate(verbs):
            person = rng.choice(shoppers)
            created = _moment(rng, self.world.start, self.world.end - timedelta(days=2))
            updated = _moment(rng, created, self.world.end - timedelta(days=1))
            erased = _moment(rng, updated, self.world.end)
            deleted.append(
                _shopify_customer(next_id + n, person, _pasted(rng, person["email"].upper()), None, None, created, updated)
            )
            customer_events.append(
                {
                    "id": 9_000_001 + n,
                    "subject_id": next_id + n,
                    "subject_type": "Customer",
                    "verb": verb,
                    "message": "Customer was deleted." if verb == "destroy" else "Customer data was redacted.",
                    "created_at": shop_time(erased),
                }
            )
        return deleted, customer_events

    def _esp(self, persons: list[dict]) -> None:
        """The ESP as Klaviyo keeps it: campaigns (each with its e-mail message), one profile per address
        (the e-mail, consent), and events (metric + profile + campaign in ``$message``).

        Rows are JSON:API resource objects without links, as ``GET /api/<collection>`` serves them. The
        draws of ``self.rng`` are exactly the legacy world's (one address variant per send, then open,
        click, unsubscribe, delays), so the other systems' worlds do not move; what is new (profile ids and
        dates, addresses pasted with a tab or a zero-width space) comes from a generator of its own."""
        rng = self.rng
        own = random.Random(f"esp:{self.world.seed}")
        ids = random.Random(f"esp-identity:{self.world.seed}")  # names and locations of profiles
        campaigns, messages = [], []
        # the events as columns (_esp_events): id, time (epoch seconds), campaign (week), profile id, metric id
        e_id, e_time, e_campaign, e_profile, e_metric = [], [], [], [], []
        profiles: dict[str, dict] = {}
        audience = [p for p in persons if p["email_consent"]]
        unsubscribed: set[str] = set()  # who unsubscribed (no more sends)
        legacy_gone: set[str] = set()  # whom the legacy world (no holdouts) had unsubscribe: self.rng skips them
        spare = random.Random(f"esp-holdout:{self.world.seed}")
        seed = self.world.seed

        def held_out(campaign_id: str, person_id: str) -> bool:
            digest = hashlib.sha256(f"holdout:{seed}:{campaign_id}:{person_id}".encode()).digest()
            return int.from_bytes(digest[:8], "big") < CAMPAIGN_HOLDOUT_SHARE * 2**64

        self._campaign_people = []  # (campaign, person, delivered or would have been, treated), in send order
        for week in range(self.world.days // 7):
            sent = self.world.start + timedelta(days=7 * week + 1, hours=9)
            campaign_id = f"cmp-{week + 1:03d}"
            message_id = f"msg-{week + 1:03d}"
            category = CATEGORIES[week % len(CATEGORIES)]
            created = sent - timedelta(days=3)
            campaigns.append(
                {
                    "type": "campaign",
                    "id": campaign_id,
                    "attributes": {
                        "name": f"Weekly {category} edit #{week + 1}",
                        "status": "Sent",
                        "archived": False,
                        "created_at": klaviyo_time(created),
                        "scheduled_at": klaviyo_time(sent),
                        "send_time": klaviyo_time(sent),
                        "updated_at": klaviyo_time(sent),
                    },
                    "relationships": {"campaign-messages": {"data": [{"type": "campaign-message", "id": message_id}]}},
                }
            )
            messages.append(
                {
                    "type": "campaign-message",
                    "id": message_id,
                    "attributes": {
                        "label": f"Weekly {category} edit #{week + 1}",
                        "channel": "email",
                        "content": {"subject": f"New in {category}", "preview_text": "", "from_email": "news@journey.test"},
                        "created_at": klaviyo_time(created),
                        "updated_at": klaviyo_time(sent),
                    },
                    "relationships": {"campaign": {"data": {"type": "campaign", "id": campaign_id}}},
                }
            )
            for position, person in enumerate(audience):
                person_id = person["person_id"]
                if person_id in unsubscribed:
                    continue
                # the legacy world's draws come from self.rng; somebody held out when the legacy world had them
                # unsubscribe stays subscribed: their later sends are drawn from a stream of their own
                draws = spare if person_id in legacy_gone else rng
                email = self.vary_email(person.get("esp_email") or person["email"], draws)  # drawn for every send, as the legacy world did
                profile = profiles.get(person_id)
                if profile is None:
                    profile = profiles[person_id] = self._esp_profile(own, ids, person, email, sent)
                    self._profile_person[profile["id"]] = person_id
                kinds = ["send"]
                if draws.random() < 0.4:
                    kinds.append("open")
                    if draws.random() < 0.25:
                        kinds.append("click")
                if draws.random() < 0.01:
                    kinds.append("unsubscribe")
                    if draws is rng:
                        legacy_gone.add(person_id)
                delivered = sent + timedelta(seconds=position)  # the ESP sends in a steady stream
                moments = [delivered + timedelta(minutes=offset * draws.randint(5, 600)) for offset in range(len(kinds))]
                if held_out(campaign_id, person_id):  # the control group: no e-mail, one control event
                    kinds, moments = ["control"], [delivered]
                    self._campaign_people.append((campaign_id, person_id, delivered, False))
                else:
                    self._campaign_people.append((campaign_id, person_id, delivered, True))
                    if "unsubscribe" in kinds:
                        unsubscribed.add(person_id)
                for kind, at in zip(kinds, moments):
                    event_id = f"esp-{len(e_id) + 1:07d}"
                    e_id.append(event_id)
                    e_time.append(int(at.timestamp()))
                    e_campaign.append(week)
                    e_profile.append(profile["id"])
                    e_metric.append(ESP_METRICS[kind][0])
                    if kind == "unsubscribe":
                        consent = profile["attributes"]["subscriptions"]["email"]["marketing"]
                        consent.update(consent="UNSUBSCRIBED", consent_timestamp=klaviyo_time(at), method="UNSUBSCRIBE_LINK")
                        profile["attributes"]["updated"] = klaviyo_time(at)
        metrics = [
            {
                "type": "metric",
                "id": metric_id,
                "attributes": {
                    "name": name,
                    "created": klaviyo_time(self.world.start - timedelta(days=400)),
                    "updated": klaviyo_time(self.world.start - timedelta(days=400)),
                    "integration": {"name": "Klaviyo", "category": "Internal"},
                },
            }
            for metric_id, name in ESP_METRICS.values()
        ]
        self.world.esp = {
            "campaigns": campaigns,
            "campaign_messages": messages,
            "metrics": metrics,
            "profiles": list(profiles.values()),
            "events": self._esp_events(campaigns, e_id, e_time, e_campaign, e_profile, e_metric),
        }

    def _esp_events(self, campaigns: list[dict], ids: list[str], times: list[int], weeks: list[int],
                    profiles: list[str], metrics: list[str]) -> ColumnRows:
        """The ESP's events held as columns: Klaviyo's event resource (``_esp_event``) is rebuilt from them per row
        and written as JSON by ``_esp_event_json``. The event's ``uuid`` is the MD5 of ``<seed>:<event id>``."""
        seed = self.world.seed
        uuids = []
        for event_id in ids:
            h = hashlib.md5(f"{seed}:{event_id}".encode()).hexdigest()
            uuids.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
        seconds = np.array(times, dtype=np.int64)
        week = pa.array(np.array(weeks, dtype=np.int32))
        names = pa.array([c["attributes"]["name"] for c in campaigns], pa.string())
        subjects = pa.array([f"New in {CATEGORIES[w % len(CATEGORIES)]}" for w in range(len(campaigns))], pa.string())
        table = pa.table({
            "id": pa.array(ids, pa.string()),
            "timestamp": pa.array(seconds),
            "datetime": utc_text(seconds, suffix="+00:00"),
            "uuid": pa.array(uuids, pa.string()),
            "campaign_id": pa.array([c["id"] for c in campaigns], pa.string()).take(week),
            "campaign_name": names.take(week),
            "subject": subjects.take(week),
            "profile_id": pa.array(profiles, pa.string()),
            "metric_id": pa.array(metrics, pa.string()),
        })
        return ColumnRows(table, _esp_event, _esp_event_json)

    def _campaign_effects(self, products: list[dict]) -> None:
        """The campaigns' causal effect, and its truth (``World.campaign_truth``).

        A treated recipient (sent the e-mail) who is a live customer of the value process (acquired before the send,
        not dropped out within the window) with a shop account (created before the send) buys once more with the
        campaign's effect probability: an online order, placed uniformly within the window after their e-mail
        arrived and before the campaign's send time plus ``CAMPAIGN_WINDOW_DAYS`` (so it never falls into the next
        weekly campaign's window), spending what the person spends (Gamma(p, 1/nu), as the value process). Orders
        that would fall after the world's end are not placed. Each has its storefront visit on the account's browser
        (anonymous when placed before that browser first logs in). They are real purchases outside the process
        (``in_process`` False in the value truth). Drawn from numpy Generators of their own: every other draw of
        the world stays (the storefront's visits to these orders move the storefront's later draws).

        The truth per campaign: people treated and held out, the effect probability, and the uplift the effect
        causes in expectation over the whole audience (treated and held out alike, as a randomised holdout
        estimates it): for each person, effect probability x eligible x the share of the order's span before the
        world's end x (no purchase of theirs in the window anyway) for conversion, and x their mean spend (p / nu)
        for revenue per person."""
        seed = int.from_bytes(hashlib.sha256(f"campaign-effects:{self.world.seed}".encode()).digest()[:8], "big")
        draws = np.random.default_rng(seed)
        lines_rng = random.Random(f"campaign-orders:{self.world.seed}")  # the orders' lines (_value_lines)
        window = timedelta(days=CAMPAIGN_WINDOW_DAYS)
        end = self.world.end
        first_account: dict[str, Account] = {}
        for account in self._accounts:
            first_account.setdefault(account.person_id, account)
        purchase_times: dict[str, list[datetime]] = {
            person_id: [x.at for x in buyer.purchases] for person_id, buyer in self._value.items()
        }
        campaign_people: dict[str, list[tuple[str, datetime, bool]]] = {}
        for campaign_id, person_id, delivered, treated in self._campaign_people:
            campaign_people.setdefault(campaign_id, []).append((person_id, delivered, treated))
        orders = self.world.shop["orders"]
        spend_shape = value_process.TRUE_PARAMS["p"]
        self._campaign_orders = []
        truth = []
        for campaign in self.world.esp["campaigns"]:
            campaign_id = campaign["id"]
            sent = _parse(campaign["attributes"]["send_time"])
            closes = sent + window
            probability = float(draws.uniform(*CAMPAIGN_EFFECT_RANGE))
            people = campaign_people.get(campaign_id, [])
            coins = draws.random(len(people))
            expected_conversion = expected_revenue = 0.0
            treated_n = extra = caused = 0
            extra_revenue = 0.0
            for (person_id, delivered, treated), coin in zip(people, coins):
                buyer = self._value.get(person_id)
                account = first_account.get(person_id)
                eligible = (
                    buyer is not None and account is not None and buyer.acquired_at is not None
                    and buyer.acquired_at <= sent and self._customer_created[account.customer_id] <= sent
                    and (buyer.dropped_at is None or buyer.dropped_at >= closes)
                )
                times = purchase_times.get(person_id, ())
                converts_anyway = any(delivered <= at < delivered + window for at in times)
                lo, hi = delivered + timedelta(seconds=60), closes - timedelta(seconds=60)
                span = (hi - lo).total_seconds()
                before_end = min(max((end - lo).total_seconds() / span, 0.0), 1.0) if span > 0 else 0.0
                if eligible:
                    expected_conversion += probability * before_end * (not converts_anyway)
                    expected_revenue += probability * before_end * spend_shape / buyer.nu
                if not treated:
                    continue
                treated_n += 1
                if not eligible or coin >= probability or span <= 0:
                    continue
                placed = (lo + timedelta(seconds=float(draws.uniform(0, span)))).replace(microsecond=0)
                amount = max(round(float(draws.gamma(spend_shape, 1.0 / buyer.nu)), 2), 0.01)
                if placed >= end:
                    continue
                order_id = 500_000 + len(orders) + 1
                lines = [{**line, "line_id": f"{order_id}-{n}"}
                         for n, line in enumerate(_value_lines(lines_rng, products, amount), start=1)]
                updated = min(placed + timedelta(seconds=lines_rng.randrange(3600, 5 * 86_400)), end - timedelta(seconds=1))
                updated = max(updated, placed)
                orders.append(
                    {
                        "id": order_id,
                        "customer": {"id": account.customer_id},
                        "financial_status": "paid",
                        "fulfillment_status": "fulfilled",
                        "currency": "EUR",
                        "total_price": f"{amount:.2f}",
                        "line_items": _line_items(order_id, lines),
                        "created_at": shop_time(placed),
                        "updated_at": shop_time(updated),
                        "closed_at": shop_time(updated),
                        "cancelled_at": None,
                    }
                )
                account.orders.append((order_id, placed, lines))  # the storefront visit that places it
                self._campaign_orders.append((person_id, account.customer_id, order_id, placed, amount))
                extra += 1
                extra_revenue += amount
                caused += not converts_anyway
            audience = len(people)
            truth.append(
                {
                    "campaign_id": campaign_id,
                    "sent_at": sent,
                    "treated_people": treated_n,
                    "holdout_people": audience - treated_n,
                    "effect_probability": probability,
                    "conversion_window_days": CAMPAIGN_WINDOW_DAYS,
                    "true_uplift": expected_conversion / audience if audience else 0.0,
                    "true_revenue_uplift": expected_revenue / audience if audience else 0.0,
                    "extra_orders": extra,
                    "extra_revenue": round(extra_revenue, 2),
                    "realized_uplift": caused / treated_n if treated_n else 0.0,
                }
            )
        self.world.campaign_truth = truth

    def _esp_profile(self, own: random.Random, ids: random.Random, person: dict, email: str, first_send: datetime) -> dict:
        """A Klaviyo profile: one per address, created before the first campaign it received."""
        self.truth("esp_contact", normalize_email(email), person["person_id"])
        pasted = own.random()
        if pasted < 0.03:  # copied from somewhere with a tab, or with an invisible zero-width space inside
            email = "\t" + email
        elif pasted < 0.06:
            cut = own.randrange(1, len(email))
            email = email[:cut] + "\u200b" + email[cut:]
        created = first_send - timedelta(days=own.randrange(1, 400), seconds=own.randrange(86_400))
        digest = hashlib.sha256(f"{self.world.seed}:{person['person_id']}".encode()).digest()
        profile_id = "01" + "".join(CROCKFORD[b % 32] for b in digest[:24])
        first, last = self._name(person, "esp") if ids.random() < 0.7 else (None, None)  # a sign-up form asks for names
        postcode, city = self._home(person, "esp")
        location = {"address1": None, "city": city, "country": "Germany", "zip": postcode} if ids.random() < 0.5 else None
        return {
            "type": "profile",
            "id": profile_id,
            "attributes": {
                "email": email,
                "first_name": first,
                "last_name": last,
                "location": location,
                "created": klaviyo_time(created),
                "updated": klaviyo_time(created),
                "subscriptions": {
                    "email": {
                        "marketing": {
                            "consent": "SUBSCRIBED",
                            "consent_timestamp": klaviyo_time(created),
                            "method": "FORM",
                        }
                    }
                },
            },
        }

    def _social(self, persons: list[dict]) -> None:
        """Our page's posts and what people do with them, as the Graph API edges serve them.

        The draws on ``self.rng`` are those of the original world (so every later system is unchanged); the
        texts, edits and the ways people type their handle come from a generator of their own.
        """
        rng = self.rng
        extra = random.Random(f"social:{self.world.seed}")
        ids = random.Random(f"social-identity:{self.world.seed}")  # the names people show on their profile
        writing = random.Random(f"social-texts:{self.world.seed}")  # what people write, and its sentiment
        reach = random.Random(f"social-reach:{self.world.seed}")  # how many people each post reached
        posts = []
        legacy_published = {}  # the skeleton dated posts past the world's end; its draws stay, its dates go
        for n in range(1, 46):
            hours = rng.randint(8, 20)
            legacy_published[f"post-{n:04d}"] = self.world.start + timedelta(days=2 * n, hours=hours)
            offset = timedelta(days=(n - 1) * max(self.world.days - 1, 0) / 45, hours=hours)
            published = self.world.start + timedelta(seconds=int(offset.total_seconds()))
            posts.append(
                {
                    "id": f"post-{n:04d}",
                    "channel": rng.choice(CHANNELS),
                    "post_type": rng.choice(("image", "video", "story")),
                    "message": extra.choice(POST_TEXTS),
                    "created_time": graph_time(published),
                    "updated_time": graph_time(published),
                }
            )
            # the post's reach (Graph insight post_impressions_unique): videos travel further; a post of the last
            # day has no insight yet, and now and then the insight is missing (a post boosted from another account)
            if published < self.world.end - timedelta(days=1) and reach.random() >= 0.05:
                posts[-1]["reach"] = int(reach.lognormvariate(7.5, 0.8) * (1.8 if posts[-1]["post_type"] == "video" else 1))
        edges: dict[str, list[dict]] = {edge: [] for edge in SOCIAL_EDGES.values()}
        n_interactions = 0
        for person in persons:
            if not person["handle"]:
                continue
            self.truth("social_handle", person["handle"].lower(), person["person_id"])
            display_name = self._display_name(ids, person)
            for _ in range(rng.randint(1, 8)):
                kind = rng.choice(("like", "like", "like", "share", "comment", "mention", "check_in"))
                post = rng.choice(posts) if kind in ("like", "share", "comment") else None
                at = self.moment(legacy_published[post["id"]] if post else None)
                if post:  # after the post, before the world's end
                    published = datetime.strptime(post["created_time"], GRAPH_TIME)
                    span = int((self.world.end - published).total_seconds())
                    at = published + timedelta(seconds=extra.randrange(max(span, 1)))
                handle = person["handle"]
                if rng.random() < 0.5:
                    handle = "@" + handle
                if rng.random() < 0.3:
                    handle = handle.upper()
                channel = post["channel"] if post else rng.choice(CHANNELS)
                store_id = rng.choice(STORES) if kind == "check_in" else None
                n_interactions += 1
                row: dict = {"id": f"int-{n_interactions:06d}"}
                if post:
                    row["post_id"] = post["id"]
                row["channel"] = channel
                row["from"] = {"name": display_name, "username": self._typed_handle(extra, handle)}
                if kind == "like":
                    row["type"] = "LIKE"
                elif kind in ("comment", "mention") or (kind == "share" and extra.random() < 0.4):
                    extra.choice({"comment": COMMENT_TEXTS, "mention": MENTION_TEXTS, "share": SHARE_TEXTS}[kind])  # drawn still
                    row["message"] = self._text(writing, kind, person, row["id"], "social", at)
                elif kind == "check_in":
                    row["place"] = {"id": store_id}
                updated = at
                if "message" in row and extra.random() < 0.1:  # edited a while later
                    updated = min(at + timedelta(minutes=extra.randint(1, 600)), self.world.end)
                row["created_time"] = graph_time(at)
                row["updated_time"] = graph_time(updated)
                edges[SOCIAL_EDGES[kind]].append(row)
        self.world.social = {"posts": posts, **edges}

    def _text(self, rng: random.Random, kind: str, person: dict, source_id, source: str, at: datetime,
              weights: dict[str, float] | None = None) -> str:
        """A text ``person`` wrote, with a sentiment drawn for its kind; its truth goes to ``world.text_truth``."""
        weights = weights or TEXT_LABEL_WEIGHTS[kind]
        label = rng.choices(list(weights), weights=list(weights.values()))[0]
        text = demo_texts.make_text(rng, kind, person["language"], label, "world")
        self.world.text_truth.append(
            {
                "text_id": f"{'social' if source == 'social' else 'review'}:{source_id}",
                "source": source,
                "kind": kind,
                "person_id": person["person_id"],
                "language": person["language"],
                "label": label,
                "occurred_at": at.astimezone(timezone.utc),
            }
        )
        return text

    def _reviews(self, persons: list[dict]) -> None:
        """Product reviews in the shop (a reviews app's API next to the Admin API): some buyers review a product
        of their order a few days after it, in their language, with stars that fit what they wrote; now and then
        a review is edited later. Drawn from a stream of its own."""
        rng = random.Random(f"shop-reviews:{self.world.seed}")
        by_id = {p["person_id"]: p for p in persons}
        reviews = []
        for order in self.world.shop["orders"]:
            if order["financial_status"] not in ("paid", "refunded") or rng.random() >= REVIEW_SHARE:
                continue
            person_id = self._truth.get(("shop_customer", str(order["customer"]["id"])))
            placed = datetime.fromisoformat(order["created_at"])
            written = placed + timedelta(days=rng.randint(1, 14), seconds=rng.randrange(86_400))
            if person_id is None or written >= self.world.end:
                continue
            product_id = rng.choice(order["line_items"])["product_id"]
            review_id = 800_001 + len(reviews)
            person = by_id[person_id]
            refunded = order["financial_status"] == "refunded"  # a refund: mostly an unhappy review
            text = self._text(rng, "review", person, review_id, "shop_review", written, REFUNDED_REVIEW if refunded else None)
            label = self.world.text_truth[-1]["label"]
            updated = written
            if rng.random() < 0.1:  # edited a while later
                updated = min(written + timedelta(hours=rng.randint(1, 240)), self.world.end - timedelta(seconds=1))
            reviews.append(
                {
                    "id": review_id,
                    "product_id": product_id,
                    "customer": {"id": order["customer"]["id"]},
                    "rating": rng.choice(REVIEW_RATINGS[label]),
                    "title": demo_texts.review_title(rng, person["language"], label),
                    "body": text,
                    "created_at": shop_time(written),
                    "updated_at": shop_time(updated),
                }
            )
        self.world.shop["reviews"] = reviews

    @staticmethod
    def _display_name(rng: random.Random, person: dict) -> str:
        """The name on a social profile: mostly the full name; a first name only, lower case, an initial, a nickname."""
        first, last = person["first"].capitalize(), person["last"].capitalize()
        r = rng.random()
        if r < 0.6:
            return f"{first} {last}"
        if r < 0.75:
            return f"{first} {last[0]}."
        if r < 0.85:
            return f"{first} {last}".lower()
        if r < 0.93:
            return first
        return f"{first} {last} \u2728"

    @staticmethod
    def _typed_handle(rng: random.Random, handle: str) -> str:
        """A handle as people paste it: stray spaces and tabs, a zero-width space, full-width characters."""
        r = rng.random()
        if r < 0.08:
            handle = handle.replace("_", "_\u200b", 1)
        elif r < 0.14:
            handle = handle.translate(FULL_WIDTH)
        elif r < 0.2:
            handle = "\u200b" + handle
        r = rng.random()
        if r < 0.08:
            handle = " " + handle
        elif r < 0.14:
            handle = handle + "\t"
        elif r < 0.18:
            handle = "\t" + handle + " "
        return handle

    def _loyalty(self, persons: list[dict]) -> None:
        rng = self.rng
        ids = random.Random(f"loyalty-identity:{self.world.seed}")  # names as typed at the till, homes, birth years
        vrng = random.Random(f"value-loyalty:{self.world.seed}")  # cards and stores of the value process's receipts
        members, cards, receipts, points = [], [], [], []
        legacy_receipts = 0  # receipts the skeleton drew (the shoppers without a card follow their number)
        phones = [p["phone"] for p in persons if p["phone"]]
        for person in persons:
            if not person["has_loyalty"]:
                continue
            member_id = f"M{len(members) + 1:06d}"
            drawn = self.moment()  # the skeleton's moment: its draws below depend on it
            buyer = self._value.get(person["person_id"])
            at_till = [x for x in buyer.purchases if x.channel == "pos"] if buyer else []
            joined = drawn  # a member who bought at the till before joined by then
            if at_till and at_till[0].at < drawn:
                joined = at_till[0].at - timedelta(seconds=vrng.randrange(0, 3 * 86_400))
            r = rng.random()
            email = (
                self.vary_email(person["alt_email"]) if person["alt_email"] and r < 0.4
                else None if r > 0.9
                else self.vary_email(person.get("loyalty_email") or person["email"])
            )
            phone = person["phone"] if person["phone"] and rng.random() < 0.8 else None
            if rng.random() < 0.02:  # a shared household landline: somebody else's number
                phone = rng.choice(phones)
            household = person["household"]
            if household and not household["head"] and household["phone"] and ids.random() < 0.3:
                phone = household["phone"]  # the family's number, given at the till by another member
            phone_text = f"{phone[:3]} {phone[3:6]} {phone[6:]}" if phone else None  # as the tills format it
            if phone is None and ids.random() < 0.12:  # the till wants a number: the cashier types zeros
                phone_text = ids.choice(PLACEHOLDER_PHONES["loyalty"])
            first, last = self._name(person, "loyalty")
            if ids.random() < 0.06:  # typed at the till
                if ids.random() < 0.5:
                    first = self._typo(ids, first)
                else:
                    last = self._typo(ids, last)
            postcode, city = self._home(person, "loyalty") if ids.random() < 0.9 else (None, None)
            birth_year = person["birth_year"] if ids.random() < 0.85 else None
            members.append(
                {
                    "member_id": member_id,
                    "email": email,
                    "phone": phone_text,
                    "first_name": first,
                    "last_name": last,
                    "postcode": postcode,
                    "city": city,
                    "birth_year": birth_year,
                    "marketing_opt_in": person["email_consent"] and rng.random() < 0.8,
                    "joined_at": joined.replace(tzinfo=None),
                    "updated_at": self.moment(drawn).replace(tzinfo=None),
                }
            )
            self.truth("loyalty_member", member_id, person["person_id"])
            member_cards, issued_at = [], []
            for c in range(2 if rng.random() < 0.1 else 1):
                card_number = f"{rng.randrange(10**15, 10**16)}"
                issued = self.moment(drawn)
                if c == 0:  # the first card is the member's since joining
                    issued = min(issued, joined)
                member_cards.append(card_number)
                issued_at.append(issued)
                cards.append(
                    {
                        "card_number": card_number,
                        "member_id": member_id,
                        "status": "active" if c == 0 else "replaced",
                        "issued_at": issued.replace(tzinfo=None),
                        "updated_at": issued.replace(tzinfo=None),
                    }
                )
                self.truth("loyalty_card", card_number, person["person_id"])
            self._member[person["person_id"]] = (member_id, member_cards)
            for _ in range(rng.randint(0, 8)):  # the skeleton's receipts: drawn still, the process's come instead
                self.moment(drawn)
                rng.uniform(5, 300)
                rng.choice(member_cards)
                rng.choice(STORES)
                legacy_receipts += 1
            for purchase in (x for x in at_till if x.at >= self.world.start):
                bought = purchase.at
                receipt_id = f"R{len(receipts) + 1:07d}"
                total = purchase.amount
                usable = [card for card, issued in zip(member_cards, issued_at) if issued <= bought]
                self._live_receipts.append((person["person_id"], receipt_id, purchase))
                receipts.append(
                    {
                        "receipt_id": receipt_id,
                        "card_number": vrng.choice(usable),
                        "store_id": vrng.choice(STORES),
                        "total_amount": total,
                        "purchased_at": bought.replace(tzinfo=None),
                        "updated_at": bought.replace(tzinfo=None),
                    }
                )
                points.append(
                    {
                        "points_txn_id": f"T{len(points) + 1:07d}",
                        "member_id": member_id,
                        "receipt_id": receipt_id,
                        "points": int(total),
                        "reason": "purchase",
                        "created_at": bought.replace(tzinfo=None),
                        "updated_at": bought.replace(tzinfo=None),
                    }
                )
        carded = len(receipts)
        for n in range(legacy_receipts // 4):  # shoppers without a card (a quarter as many as with one)
            bought = self.moment()
            store, total = rng.choice(STORES), round(rng.uniform(5, 300), 2)
            if n >= carded // 4:
                continue  # the skeleton drew more; its draws stay
            receipts.append(
                {
                    "receipt_id": f"R{len(receipts) + 1:07d}",
                    "card_number": None,
                    "store_id": store,
                    "total_amount": total,
                    "purchased_at": bought.replace(tzinfo=None),
                    "updated_at": bought.replace(tzinfo=None),
                }
            )
        self.world.loyalty = {"members": members, "cards": cards, "receipts": receipts, "points": points}
        self._late_tills()

    def _late_tills(self) -> None:
        """Receipts a till kept offline: dated 5 minutes to 5 hours before the newest receipt, delivered later.

        Own random stream, so the rest of the world does not change with it."""
        rng = random.Random(f"late-tills-{self.world.seed}")
        loyalty = self.world.loyalty
        if not loyalty["receipts"]:
            self.world.loyalty_late = {"receipts": [], "points": []}
            return
        newest = max(r["updated_at"] for r in loyalty["receipts"])
        # cards of customers (people the value process has buying by then; a prospect never buys)
        buyers = {member for person, (member, _) in self._member.items()
                  if (b := self._value.get(person)) and b.acquired_at and b.acquired_at.replace(tzinfo=None) < newest}
        cards = [c for c in loyalty["cards"] if c["status"] == "active" and c["member_id"] in buyers]
        if not cards:
            self.world.loyalty_late = {"receipts": [], "points": []}
            return
        receipts, points = [], []
        for n in range(max(3, len(loyalty["receipts"]) // 200)):
            bought = newest - timedelta(seconds=rng.randrange(5 * 60, 5 * 3600))
            card = rng.choice(cards) if n % 4 else None  # now and then a shopper without a card
            receipt_id = f"R{len(loyalty['receipts']) + n + 1:07d}"
            total = round(rng.uniform(5, 300), 2)
            receipts.append(
                {
                    "receipt_id": receipt_id,
                    "card_number": card["card_number"] if card else None,
                    "store_id": "store-08",
                    "total_amount": total,
                    "purchased_at": bought,
                    "updated_at": bought,
                }
            )
            if card:
                points.append(
                    {
                        "points_txn_id": f"T{len(loyalty['points']) + len(points) + 1:07d}",
                        "member_id": card["member_id"],
                        "receipt_id": receipt_id,
                        "points": int(total),
                        "reason": "purchase",
                        "created_at": bought,
                        "updated_at": bought,
                    }
                )
        self.world.loyalty_late = {"receipts": receipts, "points": points}

    def _history(self, persons: list[dict]) -> None:
        """The retailer's export of past orders (before the live window), as files in a folder.

        Each purchase of the value process before ``world.start`` is one row: online ones by the shop account
        (now and then with the e-mail too) or by e-mail only, till ones by the loyalty member or by e-mail only.
        Older rows go to a CSV with ISO dates, the last year to a Parquet file with ``YYYYMMDD`` dates, which
        also holds the online orders of the live window's first ``OVERLAP_DAYS`` days with their Shopify order
        id (the warehouse must count those once). Bad rows of every kind (``value.BAD_ROW_KINDS``) are mixed in:
        junk the source must quarantine; they are nobody's purchase. Own random stream.
        """
        from ..sources.history import history_order_id

        rng = random.Random(f"history:{self.world.seed}")
        start = self.world.start
        by_id = {p["person_id"]: p for p in persons}
        entries = []  # neutral form: ids, day, amount, channel, the purchase and its person
        web = 0
        for person_id, buyer in self._value.items():
            person = by_id[person_id]
            for purchase in buyer.purchases:
                if purchase.at >= start:
                    break
                entry = {"order_id": None, "shop_customer_id": None, "loyalty_member_id": None, "email": None,
                         "day": purchase.at.date(), "amount": purchase.amount, "channel": purchase.channel,
                         "person_id": person_id, "purchase": purchase}
                email = self._typed_email(rng, person["email"])
                if purchase.channel == "online":
                    if rng.random() < 0.75:
                        entry["shop_customer_id"] = self._shop_account[person_id]
                        entry["email"] = email if rng.random() < 0.2 else None
                    else:
                        entry["email"] = email
                    if rng.random() < 0.7:
                        web += 1
                        entry["order_id"] = f"WEB-{web:06d}"
                else:
                    if rng.random() < 0.7:
                        entry["loyalty_member_id"] = self._member[person_id][0]
                        entry["email"] = email if rng.random() < 0.2 else None
                    else:
                        entry["email"] = email
                entries.append(entry)
        overlap_end = start + timedelta(days=value_process.OVERLAP_DAYS)
        campaign_orders = [  # the campaigns' extra orders are online orders like any other (outside the process)
            (person_id, customer_id, order_id, value_process.Purchase(placed, amount, "online", True))
            for person_id, customer_id, order_id, placed, amount in self._campaign_orders
        ]
        for person_id, customer_id, order_id, purchase in [*self._live_orders, *campaign_orders]:
            if purchase.at < overlap_end:
                entries.append({"order_id": str(order_id), "shop_customer_id": customer_id, "loyalty_member_id": None,
                                "email": None, "day": purchase.at.date(), "amount": purchase.amount,
                                "channel": "online", "person_id": person_id, "purchase": purchase, "overlap": True})
        entries.sort(key=lambda e: (e["purchase"].at, e["person_id"]))
        split = (start - timedelta(days=365)).date()
        files = {
            value_process.HISTORY_CSV: [e for e in entries if e["day"] < split],
            value_process.HISTORY_PARQUET: [e for e in entries if e["day"] >= split],
        }
        bad_kinds = {value_process.HISTORY_CSV: value_process.BAD_ROW_KINDS * 2,
                     value_process.HISTORY_PARQUET: ("bad_date", "future_date", "negative_amount", "no_identifier")}
        self.world.history, self.world.history_bad, self._history_rows = {}, [], []
        for name, good in files.items():
            rows = [dict(e) for e in good]
            for kind in bad_kinds[name]:
                if not good:
                    break
                bad = {**rng.choice(good), "bad": kind, "person_id": None, "purchase": None}
                rows.insert(rng.randrange(len(rows) + 1), bad)
            csv = name.endswith(".csv")
            formatted = []
            seen: dict[tuple, int] = {}
            for number, row in enumerate(rows, start=2 if csv else 1):
                out = self._history_row(rng, row, csv)
                formatted.append(out)
                if row.get("bad"):
                    self.world.history_bad.append({"file": name, "line": number, "kind": row["bad"]})
                    continue
                kind, value = (("shop_customer", str(row["shop_customer_id"])) if row["shop_customer_id"] is not None
                               else ("loyalty_member", row["loyalty_member_id"]) if row["loyalty_member_id"]
                               else ("history_email", normalize_email(normalize_identifier(row["email"]))))
                if kind == "history_email":
                    self.truth("history_email", value, row["person_id"])
                amount = Decimal(f"{row['amount']:.2f}")
                key = (kind, value, row["day"], amount, row["channel"])
                seen[key] = seen.get(key, 0) + 1
                order_id = row["order_id"] or history_order_id(kind, value, row["day"], amount, row["channel"], seen[key])
                self._history_rows.append({**row, "history_order_id": order_id, "file": name, "line": number})
            self.world.history[name] = formatted

    @staticmethod
    def _typed_email(rng: random.Random, email: str) -> str:
        """An address as an old export has it: now and then in capitals or with a stray space."""
        r = rng.random()
        if r < 0.2:
            email = email.upper()
        elif r < 0.3:
            email = " " + email + " "
        return email

    @staticmethod
    def _history_row(rng: random.Random, row: dict, csv: bool) -> dict:
        """A row as the file holds it: CSV all text (ISO dates, channel as typed), Parquet typed (YYYYMMDD dates)."""
        day, amount, channel = row["day"], row["amount"], row["channel"]
        kind = row.get("bad")
        ids = {k: row[k] for k in ("shop_customer_id", "loyalty_member_id", "email")}
        if kind == "no_identifier":
            ids = dict.fromkeys(ids)
        if csv:
            r = rng.random()
            channel = channel.upper() if r < 0.1 else channel.capitalize() if r < 0.2 else channel
            out = {
                "order_id": row["order_id"] or "",
                "shop_customer_id": "" if ids["shop_customer_id"] is None else str(ids["shop_customer_id"]),
                "loyalty_member_id": ids["loyalty_member_id"] or "",
                "email": ids["email"] or "",
                "date": day.isoformat(),
                "amount": f"{amount:.2f}",
                "channel": channel,
            }
            if kind == "bad_date":
                out["date"] = rng.choice((f"{day:%d.%m.%Y}", f"{day.year}-02-30", f"{day.year}-13-{day:%d}"))
            elif kind == "future_date":
                out["date"] = f"3{day:%Y}"[:1] + f"{day:%Y-%m-%d}"[1:]  # a typo in the millennium: 3025-...
            elif kind == "bad_amount":
                out["amount"] = rng.choice((f"{amount:.2f}".replace(".", ","), "n/a", "EUR"))
            elif kind == "negative_amount":
                out["amount"] = f"-{amount:.2f}"
            elif kind == "unknown_channel":
                out["channel"] = rng.choice(("mail order", "phone", "marketplace"))
            return out
        out = {
            "order_id": row["order_id"],
            "shop_customer_id": ids["shop_customer_id"],
            "loyalty_member_id": ids["loyalty_member_id"],
            "email": ids["email"],
            "date": int(f"{day:%Y%m%d}"),
            "amount": amount,
            "channel": channel,
        }
        if kind == "bad_date":
            out["date"] = int(f"{day:%Y}0230")
        elif kind == "future_date":
            out["date"] = int(f"3{day:%Y%m%d}"[:1] + f"{day:%Y%m%d}"[1:])
        elif kind == "negative_amount":
            out["amount"] = -amount
        return out

    def _value_truth(self) -> None:
        """Every purchase, once: history rows (an overlap row is the live order's), live orders and receipts, and
        the late tills' receipts of known cards (real purchases, outside the process)."""
        utc = timezone.utc
        rows = []
        for row in self._history_rows:
            if row.get("overlap"):
                continue
            rows.append({"person_id": row["person_id"], "transaction_id": row["history_order_id"], "source": "history",
                         "channel": row["channel"], "purchased_at": row["purchase"].at, "amount": row["amount"],
                         "in_process": True})
        for person_id, _, order_id, purchase in self._live_orders:
            rows.append({"person_id": person_id, "transaction_id": str(order_id), "source": "shop", "channel": "online",
                         "purchased_at": purchase.at, "amount": purchase.amount, "in_process": True})
        for person_id, receipt_id, purchase in self._live_receipts:
            rows.append({"person_id": person_id, "transaction_id": receipt_id, "source": "pos", "channel": "pos",
                         "purchased_at": purchase.at, "amount": purchase.amount, "in_process": True})
        card_person = {card: person for person, (_, cards) in self._member.items() for card in cards}
        for receipt in self.world.loyalty_late.get("receipts", []):
            if receipt["card_number"]:
                rows.append({"person_id": card_person[receipt["card_number"]], "transaction_id": receipt["receipt_id"],
                             "source": "pos", "channel": "pos", "purchased_at": receipt["purchased_at"].replace(tzinfo=utc),
                             "amount": receipt["total_amount"], "in_process": False})
        for person_id, _, order_id, placed, amount in self._campaign_orders:  # the campaigns' effect (_campaign_effects)
            rows.append({"person_id": person_id, "transaction_id": str(order_id), "source": "shop", "channel": "online",
                         "purchased_at": placed, "amount": amount, "in_process": False})
        rows.sort(key=lambda r: (r["purchased_at"], r["transaction_id"]))
        self.world.value_transactions = rows
        self.world.value_params = value_process.value_params()
        self.world.value_people = [
            {"person_id": b.person_id, "acquired_at": b.acquired_at, "lam": b.lam, "dropout_p": b.dropout_p, "nu": b.nu,
             "dropped_at": b.dropped_at, "online_share": b.online_share}
            for b in self._value.values()
        ]

    def _iot(self, persons: list[dict]) -> None:
        """Devices, their consent over time and their readings.

        ``self.rng`` draws exactly what it always drew (registration, reading times, the first metric's value); the
        second metric of each reading event (wearables: active minutes next to steps; cars: trips next to km driven)
        and the consent changes come from rngs of their own. Devices send readings whatever their consent: the
        warehouse must keep only those recorded while the consent held (``World.iot_consent_periods``). Only the
        draws are made per reading; the rows are assembled vectorised (``_iot_readings``)."""
        rng = self.rng
        metrics = random.Random(f"iot-metrics:{self.world.seed}")
        consent = random.Random(f"iot-consent:{self.world.seed}")
        randrange, randint, uniform, gauss = rng.randrange, rng.randint, rng.uniform, metrics.gauss
        minute, value, noise = array("q"), array("d"), array("d")  # machine numbers: no object per draw
        devices, changes = [], []
        reporting = []  # per device: (a wearable?, the epoch second of its first reporting day)
        for person in persons:
            if not person["device"]:
                continue
            device_id = f"dev-{len(devices) + 1:05d}"
            registered = self.world.start + timedelta(hours=rng.randrange(24 * 10))
            device = {
                "device_id": device_id,
                "device_type": person["device"],
                "owner_email": self.vary_email(person["email"]),
                "opted_in": person["iot_opt_in"],
                "registered_at": iso(registered),
                "updated_at": iso(registered),
            }
            devices.append(device)
            # consent changes inside the window: opted-in devices withdraw (some opt in again), others opt in late
            opted, at = person["iot_opt_in"], registered
            for p in (0.25, 0.4) if opted else (0.3, 0.25, 0.4):
                if consent.random() >= p:
                    break
                at = _moment(consent, at + timedelta(hours=6), at + (self.world.end - at) * 0.8)
                opted = not opted
                changes.append(dict(device, opted_in=opted, updated_at=iso(at)))
            if opted:  # the device's person is known to the warehouse only while (and because) it is opted in now
                self.truth("iot_device", device_id, person["person_id"])
            first_day = registered.replace(hour=0, minute=0, second=0) + timedelta(days=1)
            wearable = person["device"] == "wearable"
            reporting.append((wearable, int(first_day.timestamp())))
            # the draws of each reading event, in the order the world always drew them (only the numbers: the rows
            # are assembled with numpy and pyarrow below): the minute, the first metric's value, the second's noise
            events = 2 * max(0, (self.world.end - first_day).days)
            if wearable:
                for _ in range(events):
                    minute.append(randrange(60))
                    value.append(randint(500, 12000))
                    noise.append(gauss(0, 6))
            else:
                for _ in range(events):
                    minute.append(randrange(60))
                    km = round(uniform(0, 80), 1)
                    value.append(km)
                    noise.append(metrics.uniform(-1, 1) if km >= 1 else 0.0)  # under 1 km: no trip, nothing drawn
        changes.sort(key=lambda c: (c["updated_at"], c["device_id"]))
        readings = self._iot_readings(devices, reporting, minute, value, noise)
        self.world.iot = {"devices": devices, "device_changes": changes, "readings": readings}

    def _iot_readings(self, devices: list[dict], reporting: list[tuple[bool, int]], minute: array,
                      value: array, noise: array) -> ColumnRows:
        """Every device reports twice a day (08:xx and 20:xx UTC, the minute drawn) from the day after its
        registration to the world's end: a reading event of two metrics (wearables: steps, then active minutes
        ``max(0, round(steps / 110 + noise))``; cars: km driven with one decimal, then trips, 0 under 1 km, else
        ``max(1, round(km / 18 + noise))``), in device, day, slot order. ``minute``, ``value`` and ``noise`` are the
        drawn numbers of each reading event in that order. Held as columns (:class:`ColumnRows`)."""
        end = int(self.world.end.timestamp())
        wearable = np.array([w for w, _ in reporting], dtype=bool)
        first = np.array([f for _, f in reporting], dtype=np.int64)
        days = np.maximum((end - first + 86_399) // 86_400, 0)  # days with day start < end
        slots = 2 * days
        events = int(slots.sum())
        device = np.repeat(np.arange(len(devices)), slots)  # per reading event: device index
        start = np.cumsum(slots) - slots
        k = np.arange(events) - np.repeat(start, slots)  # the event's number within its device
        assert len(minute) == len(value) == len(noise) == events
        at = first[device] + (k // 2) * 86_400 + np.where(k % 2 == 0, 8, 20) * 3600 + 60 * np.frombuffer(minute, np.int64)
        steps = wearable[device]
        drawn = np.frombuffer(value, dtype=np.float64)  # steps, or km driven with one decimal
        noise = np.frombuffer(noise, dtype=np.float64)
        # Python's round() and np.rint both round half to even; the float arithmetic is the same IEEE arithmetic
        minutes = np.maximum(0, np.rint(drawn / 110 + noise))
        trips = np.where(drawn < 1, 0, np.maximum(1, np.rint(drawn / 18 + noise)))
        second_value = np.where(steps, minutes, trips).astype(np.int64)
        # the first metric as an integer: steps, or km driven in tenths of a km (value / 10 is the drawn float)
        first_value = np.where(steps, drawn, np.rint(drawn * 10)).astype(np.int64)
        # two rows per event: the first metric, then the second
        rows = 2 * events
        device_ids = pa.array([d["device_id"] for d in devices], pa.string())
        row_device = np.repeat(device, 2)
        is_second = np.tile(np.array([False, True]), events)
        row_steps = np.repeat(steps, 2)
        metric_codes = np.where(row_steps, 0, 2) + is_second  # steps, active_minutes, km_driven, trips
        metric = pa.DictionaryArray.from_arrays(pa.array(metric_codes.astype(np.int8)), IOT_METRICS).cast(pa.string())
        pairs = pa.array(np.repeat(np.arange(events), 2))  # row -> its reading event
        recorded_at = utc_text(at).take(pairs)
        device_col = device_ids.take(pa.array(row_device))
        hour_id = pc.binary_join_element_wise(device_col, utc_hour_text(at).take(pairs), "-")
        suffix = pa.DictionaryArray.from_arrays(pa.array(metric_codes.astype(np.int8)), IOT_SUFFIXES).cast(pa.string())
        value = np.empty(rows, dtype=np.int64)
        value[0::2], value[1::2] = first_value, second_value
        tenths = (metric_codes == 2)
        table = pa.table({
            "reading_id": pc.binary_join_element_wise(hour_id, suffix, ""),
            "device_id": device_col,
            "metric": metric,
            # the value: an integer, or (km driven) tenths of a km: value / 10 with one decimal
            "value": pa.array(value),
            "tenths": pa.array(tenths),
            "recorded_at": recorded_at,
            "recorded_ts": pa.array(np.repeat(at, 2), pa.timestamp("s", tz="UTC")),
        })
        assert table.num_rows == rows
        return ColumnRows(table, _iot_reading)

    # --- consent ---------------------------------------------------------------------------------------------
    def _consents(self, persons: list[dict]) -> None:
        """Consent decisions per purpose as each system records them, and their truth (from a stream of its own).

        - shop: ``accepts_marketing`` (unchanged: the person's e-mail consent) now comes with the moment of the
          decision (``accepts_marketing_updated_at``, between the account's creation and its last update) and
          ``marketing_opt_in_level`` (single_opt_in | confirmed_opt_in, Shopify's double opt-in); an account that does
          not accept marketing declined explicitly (a moment) or never decided (null: no decision).
        - ESP: the profile's e-mail marketing consent was given on sign-up (``consent_timestamp``; a double opt-in
          confirmed some hours later: ``double_optin`` true and the timestamp is the confirmation); unsubscribes
          (events, and the profile's UNSUBSCRIBED state) withdraw it.
        - loyalty: a new table ``consents`` (consent_id, member_id, purpose, granted, decided_at, updated_at): the
          member's e-mail marketing choice at the till (as ``members.marketing_opt_in``: a member who consents
          elsewhere but said no here withdrew at a later visit), and profiling / ad audiences (some change later).
        - IoT: every registry statement of the person's device (purpose device_data).

        Conflicts follow from the timestamps: an opt-in in one system and a later withdrawal in another, and the
        reverse. The truth per person and purpose is the latest decision (a withdrawal wins a tie)."""
        rng = random.Random(f"consent:{self.world.seed}")
        decisions: list[dict] = []

        def decide(person_id: str, purpose: str, granted: bool, at: datetime, system: str, record: str) -> None:
            decisions.append({"person_id": person_id, "purpose": purpose, "granted": granted,
                              "decided_at": at.astimezone(timezone.utc), "source_system": system, "record": record})

        for customer in self.world.shop.get("customers", []):
            person_id = self._truth[("shop_customer", str(customer["id"]))]
            created, updated = _parse(customer["created_at"]), _parse(customer["updated_at"])
            level, at = None, None
            if customer["accepts_marketing"]:
                at = _moment(rng, created, max(updated, created + timedelta(seconds=1)))
                level = "confirmed_opt_in" if rng.random() < 0.5 else "single_opt_in"
            elif rng.random() < 0.5:  # declined on a form: an explicit decision; otherwise none was ever asked for
                at = _moment(rng, created, max(updated, created + timedelta(seconds=1)))
            customer["accepts_marketing_updated_at"] = shop_time(at) if at else None
            customer["marketing_opt_in_level"] = level
            if at:
                decide(person_id, "email_marketing", customer["accepts_marketing"], at, "shop", str(customer["id"]))

        unsubscribes = {}
        events = self.world.esp.get("events", [])
        if isinstance(events, ColumnRows):
            events = events.where("metric_id", ESP_METRICS["unsubscribe"][0])
        for event in events:
            if event["relationships"]["metric"]["data"]["id"] == ESP_METRICS["unsubscribe"][0]:
                profile_id = event["relationships"]["profile"]["data"]["id"]
                unsubscribes[profile_id] = _parse(event["attributes"]["datetime"])
        for profile in self.world.esp.get("profiles", []):
            person_id = self._profile_person[profile["id"]]
            attributes = profile["attributes"]
            marketing = attributes["subscriptions"]["email"]["marketing"]
            granted_at = _parse(attributes["created"])
            double = rng.random() < 0.4
            if double:  # confirmed from the e-mail some minutes to hours after signing up
                granted_at += timedelta(seconds=rng.randrange(120, 20 * 3600))
            marketing["double_optin"] = double
            if marketing["consent"] == "SUBSCRIBED":
                marketing["consent_timestamp"] = klaviyo_time(granted_at)
                attributes["updated"] = klaviyo_time(max(_parse(attributes["updated"]), granted_at))
            decide(person_id, "email_marketing", True, granted_at, "esp", profile["id"])
            if profile["id"] in unsubscribes:
                decide(person_id, "email_marketing", False, unsubscribes[profile["id"]], "esp", profile["id"])

        members = self.world.loyalty.get("members", [])
        by_member = {p["person_id"]: p for p in persons}
        consents = []

        def record(member: dict, purpose: str, granted: bool, at: datetime) -> None:
            naive = at.astimezone(timezone.utc).replace(tzinfo=None)
            consents.append({"consent_id": f"C{len(consents) + 1:07d}", "member_id": member["member_id"],
                             "purpose": purpose, "granted": granted, "decided_at": naive, "updated_at": naive})
            decide(self._truth[("loyalty_member", member["member_id"])], purpose, granted, at, "loyalty",
                   member["member_id"])

        for member in members:
            person = by_member[self._truth[("loyalty_member", member["member_id"])]]
            joined = member["joined_at"].replace(tzinfo=timezone.utc)
            later = self.world.end - timedelta(seconds=1)
            if member["marketing_opt_in"]:
                record(member, "email_marketing", True, joined)
            elif person["email_consent"]:  # consents elsewhere, said no at the till on a later visit
                record(member, "email_marketing", False, _moment(rng, joined, max(later, joined + timedelta(seconds=1))))
            elif rng.random() < 0.5:
                record(member, "email_marketing", False, joined)
            for purpose, asked, yes in (("profiling", 0.6, 0.5), ("ad_audiences", 0.5, 0.4)):
                if rng.random() >= asked:
                    continue
                granted, at = rng.random() < yes, joined + timedelta(seconds=rng.randrange(60, 3600))
                record(member, purpose, granted, at)
                if rng.random() < 0.25 and at < later:  # changed their mind at a later visit
                    record(member, purpose, not granted, _moment(rng, at + timedelta(seconds=1), max(later, at + timedelta(seconds=2))))
        consents.sort(key=lambda c: c["consent_id"])
        self.world.loyalty["consents"] = consents

        owners = [p["person_id"] for p in persons if p["device"]]  # devices were numbered in this order (_iot)
        device_person = {d["device_id"]: pid for d, pid in zip(self.world.iot.get("devices", []), owners)}
        for row in [*self.world.iot.get("devices", []), *self.world.iot.get("device_changes", [])]:
            decide(device_person[row["device_id"]], "device_data", row["opted_in"], _parse(row["updated_at"]), "iot",
                   row["device_id"])

        decisions.sort(key=lambda d: (d["person_id"], d["purpose"], d["decided_at"], d["granted"], d["source_system"]))
        self.world.consent_decisions = decisions
        latest: dict[tuple[str, str], dict] = {}
        for decision in decisions:
            key = (decision["person_id"], decision["purpose"])
            current = latest.get(key)
            # the latest decision; at the same moment a withdrawal wins
            if current is None or (decision["decided_at"], not decision["granted"]) > (current["decided_at"], not current["granted"]):
                latest[key] = decision
        self.world.consent_truth = [
            {k: d[k] for k in ("person_id", "purpose", "granted", "decided_at", "source_system")}
            for _, d in sorted(latest.items())
        ]


def add_world_arguments(parser) -> None:
    """``--seed``, ``--people``, ``--days`` for command lines that build a world (argparse)."""
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument("--people", type=int, default=2000, help="people in the world (default 2000)")
    parser.add_argument("--days", type=int, default=90, help="days of history (default 90)")


def generate(seed: int = 42, people: int = 2000, days: int = 90) -> World:
    """Build the demo world. Deterministic in its arguments."""
    if people < 1 or days < 7:
        raise ValueError(f"a demo world needs at least 1 person and 7 days, got people={people}, days={days}")
    with _no_gc():
        return _Gen(seed, people, days).build()


@contextmanager
def _no_gc():
    """The cyclic garbage collector off while a world is built or written: the world is millions of young
    objects that live on (no cycles to collect), and every collection would walk all of them again (at 2,000
    people it was more than half of the time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
