"""The storefront's journeys: visits of web-analytics events, and the truth about them.

A shop account's browser (its first-party cookie) browses anonymously until the person signs up or logs in;
from then on every event carries the ``user_id``. Visits are a few events minutes apart; visits are hours or
days apart. An online order ends a visit (the checkout page shortly before the order); an abandoned checkout
ends one too. A click in a campaign e-mail opens a visit seconds later whose landing URL carries the
campaign's UTM parameters and Klaviyo's ``_kx`` (the ESP profile): sometimes on the account's browser,
sometimes on a phone that never logs in (only the tracked link tells who it is). Visitors who never identify
themselves browse too. The collector adds its traps: events sent late (hours after they happened), events sent
twice (same event id), devices whose clock runs ahead (``derived_tstamp`` in the future), and one person busy
for more than a day without a half-hour pause.

Everything here draws from streams of its own (``journeys-<seed>``), so the other systems' worlds do not move.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .columnar import ColumnRows, utc_text

LATE_SHARE, DUPLICATE_SHARE, CLOCK_AHEAD_SHARE = 0.01, 0.005, 0.003
# how a click e-mail campaign's landing URL is tagged (Klaviyo's UTM tracking defaults)
EMAIL_UTM_SOURCE, EMAIL_UTM_MEDIUM = "klaviyo", "email"
CLICKED_EMAIL = "ClkEml"


@dataclass
class Account:
    """A shop account as the skeleton world drew it, with what its storefront visits are built from."""

    customer_id: int
    person_id: str
    visitor: str  # the browser's first-party cookie
    created: datetime  # when the account's browser logs in (registering, see ``registered``)
    visits: list[tuple[datetime, dict]]  # (start, product) of each browsing visit
    orders: list[tuple[int, datetime, list[dict]]]  # (order id, placed, lines)
    checkouts: list[tuple[int, datetime, list[dict]]]  # (checkout id, created, lines) of abandoned checkouts
    # False: the account is older than ``created`` (it bought before): the browser logs in then, nobody registers
    registered: bool = True


def legacy_event_draws(rng: random.Random) -> None:
    """The draws the legacy world made for one storefront event on the shop's extra stream (lateness, delay,
    UTM): made still, so that what the shop draws after them (e-mails as pasted, erasures) stays the same."""
    late = rng.random() < 0.01
    rng.randrange(3 * 3600, 12 * 3600) if late else rng.randrange(1, 30)
    if rng.random() < 0.3:
        rng.randrange(3)


@dataclass
class _Visit:
    visit_id: str
    visitor: str
    person_id: str | None
    events: list[dict]  # {"at", "event", "path", "product", "utm", "kx"}


class StorefrontBuilder:
    def __init__(self, seed: int, start: datetime, end: datetime, products: list[dict]):
        from . import generator

        self.g = generator
        self.rng = random.Random(f"journeys-{seed}")
        self.start, self.end = start, end
        self.products = products
        self.visits: list[_Visit] = []
        self.logins: dict[str, tuple[datetime, int]] = {}  # visitor -> (logged in at, customer id)
        self.marathon: str | None = None

    # --- visits ---------------------------------------------------------------------------------------------
    def _visit(self, visitor: str, person_id: str | None, steps: list[dict]) -> None:
        steps = [s for s in steps if self.start <= s["at"] < self.end]
        if steps:
            visit_id = f"v{len(self.visits) + 1:06d}"
            for step in steps:  # the collector keeps whole seconds
                step["at"] = step["at"].replace(microsecond=0)
            self.visits.append(_Visit(visit_id, visitor, person_id, steps))

    def _browse(self, at: datetime, product: dict, utm: tuple | None = None, kx: str | None = None,
                landing: str | None = None) -> list[dict]:
        """A landing page, then a few product views (now and then into the cart), minutes apart."""
        rng = self.rng
        on_product = landing is None and rng.random() < 0.5
        path = landing or (f"/products/{product['sku'].lower()}" if on_product else "/")
        steps = [{"at": at, "event": "page_view", "path": path, "product": product if on_product else None,
                  "utm": utm, "kx": kx}]
        while rng.random() < 0.55 and len(steps) < 8:
            at = at + timedelta(seconds=rng.randrange(20, 360))
            product = product if rng.random() < 0.5 else rng.choice(self.products)
            event = "add_to_cart" if rng.random() < 0.15 else "product_view"
            steps.append({"at": at, "event": event, "path": f"/products/{product['sku'].lower()}", "product": product})
        return steps

    def _buy(self, checkout_at: datetime, lines: list[dict]) -> list[dict]:
        """A visit that ends on the checkout page at ``checkout_at``: the order's products viewed and carted first."""
        rng = self.rng
        bought = {line["product_id"]: line for line in lines}
        steps = [{"at": checkout_at, "event": "page_view", "path": "/checkout", "product": None}]
        at = checkout_at
        for product in reversed([p for p in self.products if p["product_id"] in bought]):
            for event in ("add_to_cart", "product_view"):
                at -= timedelta(seconds=rng.randrange(20, 240))
                steps.append({"at": at, "event": event, "path": f"/products/{product['sku'].lower()}", "product": product})
        at -= timedelta(seconds=rng.randrange(20, 240))
        utm = self.g.UTM[rng.randrange(len(self.g.UTM))] if rng.random() < 0.25 else None
        steps.append({"at": at, "event": "page_view", "path": "/", "product": None, "utm": utm})
        return steps[::-1]

    def account(self, account: Account) -> None:
        rng = self.rng
        person, visitor = account.person_id, account.visitor
        # before the account: browsing as nobody in particular, on the same browser
        for _ in range(rng.choice((0, 0, 1, 1, 2, 3))):
            at = account.created - timedelta(days=rng.uniform(0.5, 20))
            self._visit(visitor, person, self._browse(at, rng.choice(self.products)))
        # signing up (or, with an older account, logging in): a few pages, then the browser is logged in from then on
        signup = self._browse(account.created - timedelta(minutes=rng.randrange(2, 15)), rng.choice(self.products))
        signup = [s for s in signup if s["at"] < account.created]
        path = "/account/register" if account.registered else "/account/login"
        signup.append({"at": account.created, "event": "page_view", "path": path, "product": None})
        self._visit(visitor, person, signup)
        self.logins[visitor] = (account.created, account.customer_id)
        for at, product in account.visits:
            if rng.random() < 0.5:  # half the skeleton's browsing moments are visits
                continue
            utm = self.g.UTM[rng.randrange(len(self.g.UTM))] if rng.random() < 0.25 else None
            self._visit(visitor, person, self._browse(at, product, utm))
        for _, placed, lines in account.orders:
            self._visit(visitor, person, self._buy(placed - timedelta(seconds=rng.randrange(30, 300)), lines))
        for _, created, lines in account.checkouts:
            steps = self._buy(created - timedelta(seconds=rng.randrange(5, 60)), lines)
            self._visit(visitor, person, steps)

    def marathon_session(self, account: Account) -> None:
        """Somebody busy for more than a day: an event every few minutes, never a half-hour pause."""
        rng = self.rng
        at = max(account.created + timedelta(hours=1), self.start)
        if at + timedelta(hours=30) >= self.end:
            return
        steps, until = [], at + timedelta(hours=rng.uniform(25, 29))
        while at < until:
            product = rng.choice(self.products)
            steps.append({"at": at, "event": rng.choice(("page_view", "product_view")),
                          "path": f"/products/{product['sku'].lower()}", "product": product})
            at += timedelta(seconds=rng.randrange(60, 25 * 60))
        self._visit(account.visitor, account.person_id, steps)
        self.marathon = self.visits[-1].visit_id

    def anonymous(self, visitor: str, starts: list[tuple[datetime, dict]]) -> None:
        for at, product in starts:
            self._visit(visitor, None, self._browse(at, product))

    def clicks(self, esp_events: list[dict], profile_person: dict[str, str], visitors: dict[str, str]) -> None:
        """Each click in a campaign e-mail: a visit seconds later, landing on the campaign's collection page with
        the campaign's UTM and the profile's ``_kx``; on the person's browser, or on a phone that never logs in."""
        rng = self.rng
        phones: dict[str, str] = {}
        for event in esp_events:
            if event["relationships"]["metric"]["data"]["id"] != CLICKED_EMAIL:
                continue
            profile = event["relationships"]["profile"]["data"]["id"]
            person = profile_person.get(profile)
            if person is None:
                continue
            campaign = event["attributes"]["event_properties"]["$message"]
            week = int(campaign.rsplit("-", 1)[1]) - 1
            category = self.g.CATEGORIES[week % len(self.g.CATEGORIES)]
            if person in visitors and rng.random() < 0.7:
                visitor = visitors[person]
            else:
                visitor = phones.setdefault(person, f"{rng.getrandbits(64):016x}")
            clicked = datetime.fromisoformat(event["attributes"]["datetime"])
            landing = f"/collections/{category}"
            self._visit(visitor, person, self._browse(
                clicked + timedelta(seconds=rng.randrange(2, 40)), rng.choice(self.products),
                (EMAIL_UTM_SOURCE, EMAIL_UTM_MEDIUM, campaign), profile, landing))

    # --- the collector's export -------------------------------------------------------------------------------
    def events(self) -> tuple[ColumnRows, ColumnRows]:
        """The collector's rows (duplicates included) and the truth (one row per event id), held as columns
        (:class:`~ingestion.demo_world.columnar.ColumnRows`: sequences of dicts that writers take as tables)."""
        rng = self.rng
        g = self.g
        identified = {v for v in self.logins}
        identified |= {v.visitor for v in self.visits if any(s.get("kx") for s in v.events)}
        steps = sorted(
            ((s["at"], visit.visitor, n, visit, s) for visit in self.visits for n, s in enumerate(visit.events)),
            key=lambda item: (item[0], item[1], item[2]),
        )
        sessions = {v.visit_id: str(uuid.UUID(int=rng.getrandbits(128), version=4)) for v in self.visits}
        rows: dict[str, list] = {name: [] for name in EVENT_COLUMNS}
        truth: dict[str, list] = {name: [] for name in TRUTH_COLUMNS}
        row_columns = [rows[name] for name in EVENT_COLUMNS]
        received_at, derived_at = rows["collector_tstamp"], rows["derived_tstamp"]  # epoch seconds, formatted below
        (t_event_id, t_visitor, t_person, t_visit, t_at, t_event, t_logged_in, t_campaign, t_identified, t_late,
         t_duplicate, t_clock_ahead, t_marathon) = (truth[name] for name in TRUTH_COLUMNS)
        randrange, random_ = rng.randrange, rng.random
        prefix = {}
        for number, (at, visitor, _, visit, step) in enumerate(steps, start=1):
            event_id = f"evt-{number:07d}"
            login = self.logins.get(visitor)
            user_id = str(login[1]) if login and at >= login[0] else None
            second = int(at.timestamp())
            received = second + randrange(1, 30)
            derived = second
            late = random_() < LATE_SHARE  # a phone that was offline sends its events hours later
            if late:
                received = second + randrange(3 * 3600, 12 * 3600)
            clock_ahead = not late and random_() < CLOCK_AHEAD_SHARE  # a device whose clock is wrong
            if clock_ahead:
                derived = second + 86_400 * randrange(1, 400) + randrange(86_400)
            utm, kx, product = step.get("utm"), step.get("kx"), step["product"]
            query = ""
            if utm:
                query = f"?utm_source={utm[0]}&utm_medium={utm[1]}&utm_campaign={utm[2]}"
                if kx:
                    query += f"&_kx={kx}"
            if product:
                product_id = prefix.get(product["product_id"])
                if product_id is None:
                    product_id = prefix[product["product_id"]] = g.PRODUCT_ID_BASE + int(product["product_id"].removeprefix("prod-"))
            else:
                product_id = None
            row = (
                event_id, step["event"], received, derived, visitor, sessions[visit.visit_id], user_id,
                g.SHOP_DOMAIN + step["path"] + query, step["path"], product_id,
                utm[0] if utm else None, utm[1] if utm else None, utm[2] if utm else None,
            )
            for column, value in zip(row_columns, row):
                column.append(value)
            duplicate = random_() < DUPLICATE_SHARE  # the collector delivers it twice
            if duplicate:
                for column, value in zip(row_columns, row):
                    column.append(value)
                received_at[-1] = received + randrange(1, 90)
            t_event_id.append(event_id)
            t_visitor.append(visitor)
            t_person.append(visit.person_id)
            t_visit.append(visit.visit_id)
            t_at.append(second)
            t_event.append(step["event"])
            t_logged_in.append(user_id is not None)
            t_campaign.append(utm[2] if kx else None)
            t_identified.append(visitor in identified)
            t_late.append(late)
            t_duplicate.append(duplicate)
            t_clock_ahead.append(clock_ahead)
            t_marathon.append(visit.visit_id == self.marathon)
        for name in ("collector_tstamp", "derived_tstamp"):
            rows[name] = utc_text(np.array(rows[name], dtype=np.int64))
        events = pa.table({name: pa.array(rows[name], EVENT_TYPES.get(name, pa.string())) for name in EVENT_COLUMNS})
        truth["occurred_at"] = pa.array(truth["occurred_at"], pa.int64()).cast(pa.timestamp("s", tz="UTC")).cast(
            pa.timestamp("us", tz="UTC"))
        truth_table = pa.table({name: pa.array(truth[name], TRUTH_TYPES[name]) for name in TRUTH_COLUMNS})
        return ColumnRows(events), ColumnRows(truth_table, _truth_row)


EVENT_COLUMNS = (
    "event_id", "event", "collector_tstamp", "derived_tstamp", "domain_userid", "domain_sessionid", "user_id",
    "page_url", "page_urlpath", "product_id", "mkt_source", "mkt_medium", "mkt_campaign",
)
EVENT_TYPES = {"product_id": pa.int64()}
TRUTH_TYPES = {
    "event_id": pa.string(), "visitor_id": pa.string(), "person_id": pa.string(), "visit_id": pa.string(),
    "occurred_at": pa.timestamp("us", tz="UTC"), "event": pa.string(), "logged_in": pa.bool_(),
    "email_campaign": pa.string(), "visitor_identified": pa.bool_(), "late": pa.bool_(), "duplicate": pa.bool_(),
    "clock_ahead": pa.bool_(), "marathon": pa.bool_(),
}
TRUTH_COLUMNS = tuple(TRUTH_TYPES)


def _truth_row(row: dict) -> dict:
    """A journey truth row with its time in ``datetime.timezone.utc`` (as the generator's other times are)."""
    row["occurred_at"] = row["occurred_at"].replace(tzinfo=timezone.utc)
    return row
