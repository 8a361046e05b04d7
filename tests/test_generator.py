from collections import Counter
from datetime import timezone

from ingestion.demo_world import generate, normalize_email, normalize_handle
from ingestion.sources._contracts import normalize_identifier

DEFAULT_COUNTS = {
    "shop": {
        # orders: 883 of the skeleton and the value process, 72 the campaigns' effect (their storefront visits and
        # reviews follow); ESP events: holdouts get one control event instead of a send, opens and clicks
        "customers": 1757, "orders": 955, "abandoned_checkouts": 495, "events": 50588,
        "customer_events": 9, "deleted_customers": 9, "reviews": 349,
        "products": 60,  # the catalogue (with stock), drawn from a stream of its own: nothing else changed
    },
    "esp": {"campaigns": 12, "campaign_messages": 12, "metrics": 5, "profiles": 1292, "events": 21587},
    "social": {"posts": 45, "comments": 631, "tags": 557, "reactions": 1851, "sharedposts": 589, "checkins": 595},
    "loyalty": {"members": 919, "cards": 1013, "receipts": 397, "points": 318, "consents": 2010},
    "iot": {"devices": 302, "device_changes": 121, "readings": 101852},
}


def test_same_arguments_same_world():
    assert generate(3, 200, 14).fingerprint() == generate(3, 200, 14).fingerprint()


def test_other_seed_other_world():
    assert generate(3, 200, 14).fingerprint() != generate(4, 200, 14).fingerprint()


def test_default_world_is_exactly_the_documented_one():
    world = generate()
    counts = {system: {table: len(rows) for table, rows in tables.items()} for system, tables in world.tables().items()}
    assert counts == DEFAULT_COUNTS
    assert Counter(t["identifier_type"] for t in world.ground_truth) == {
        "shop_customer": 1757,
        "esp_contact": 1292,
        "loyalty_card": 1013,
        "social_handle": 920,
        "loyalty_member": 919,
        "iot_device": 184,
        "history_email": 779,
    }


def test_ground_truth_covers_every_source_identifier(small_world):
    truth = {(t["identifier_type"], t["identifier_value"]): t["person_id"] for t in small_world.ground_truth}
    w = small_world
    assert all(("shop_customer", str(c["id"])) in truth for c in w.shop["customers"])
    assert all(("esp_contact", normalize_email(normalize_identifier(p["attributes"]["email"]))) in truth for p in w.esp["profiles"])
    interactions = [i for edge, rows in w.social.items() if edge != "posts" for i in rows]
    assert len(interactions) > 0 and all(("social_handle", normalize_handle(i["from"]["username"])) in truth for i in interactions)
    assert all(("loyalty_member", m["member_id"]) in truth for m in w.loyalty["members"])
    assert all(("loyalty_card", c["card_number"]) in truth for c in w.loyalty["cards"])
    assert {v for (t, v) in truth if t == "iot_device"} == w.iot_opted_in()  # opted-out devices are nobody's business


def test_identifiers_vary_across_systems_like_people_type_them(small_world):
    emails = [c["email"] for c in small_world.shop["customers"]]
    assert len(emails) == 271
    assert sum(e != e.strip() for e in emails) == 85
    assert (sum("\t" in e for e in emails), sum("\u200b" in e for e in emails)) == (7, 12)  # pasted with a tab, a zero-width space
    assert sum(e.strip() != e.strip().lower() for e in emails) == 130
    people_with_two_accounts = Counter(
        t["person_id"] for t in small_world.ground_truth if t["identifier_type"] == "shop_customer"
    )
    assert sum(n == 2 for n in people_with_two_accounts.values()) == 14


# --- identity fields and traps (issue 6) ----------------------------------------------------------------------


def _by_person(world):
    """Each system's records by their true person (the ground truth), for comparing what systems know of one person."""
    truth = {(t["identifier_type"], t["identifier_value"]): t["person_id"] for t in world.ground_truth}
    shop = {}
    for c in world.shop["customers"]:
        shop.setdefault(truth[("shop_customer", str(c["id"]))], []).append(c)
    loyalty = {truth[("loyalty_member", m["member_id"])]: m for m in world.loyalty["members"]}
    esp = {truth[("esp_contact", normalize_email(normalize_identifier(p["attributes"]["email"])))]: p["attributes"]
           for p in world.esp["profiles"]}
    return truth, shop, loyalty, esp


def test_people_have_names_homes_and_birth_years_where_real_systems_keep_them(small_world):
    w = small_world
    addresses = [c["default_address"] for c in w.shop["customers"] if c["default_address"]]
    assert 0.7 * len(w.shop["customers"]) < len(addresses) < 0.9 * len(w.shop["customers"])
    assert all(a["zip"].isdigit() and len(a["zip"]) == 5 and a["city"] and a["country_code"] == "DE" for a in addresses)
    assert all(c["id"] == a["customer_id"] for c in w.shop["customers"] if (a := c["default_address"]))
    members = w.loyalty["members"]
    assert sum(m["birth_year"] is not None for m in members) > 0.7 * len(members)  # 85 % give it
    assert all(1950 <= m["birth_year"] <= 2006 for m in members if m["birth_year"])
    assert sum(m["postcode"] is not None for m in members) > 0.75 * len(members)  # 90 % give it
    located = [p["attributes"]["location"] for p in w.esp["profiles"] if p["attributes"]["location"]]
    assert 0.3 * len(w.esp["profiles"]) < len(located) < 0.7 * len(w.esp["profiles"])
    named = [p for p in w.esp["profiles"] if p["attributes"]["first_name"]]
    assert 0.5 * len(w.esp["profiles"]) < len(named) < 0.9 * len(w.esp["profiles"])
    froms = [i["from"] for edge, rows in w.social.items() if edge != "posts" for i in rows]
    assert all(f["name"] for f in froms)
    # one display name per handle
    names = {}
    for f in froms:
        names.setdefault(normalize_handle(f["username"]), set()).add(f["name"])
    assert all(len(n) == 1 for n in names.values())


def test_family_inboxes_are_shared_by_people_of_one_household(small_world):
    truth, shop, loyalty, esp = _by_person(small_world)
    users = {}
    for person, records in shop.items():
        for c in records:
            users.setdefault(normalize_email(normalize_identifier(c["email"])), set()).add(person)
    for person, m in loyalty.items():
        if m["email"]:
            users.setdefault(normalize_email(normalize_identifier(m["email"])), set()).add(person)
    for person, p in esp.items():
        users.setdefault(normalize_email(normalize_identifier(p["email"])), set()).add(person)
    family = {email: people for email, people in users.items() if email.startswith("familie.")}
    shared = [people for people in family.values() if len(people) > 1]
    assert len(shared) >= 3
    for people in shared:  # one household: one last name and one home in the shop
        homes = {(c["last_name"], c["default_address"]["zip"]) for p in people for c in shop.get(p, []) if c["default_address"]}
        assert len({last for last, _ in homes}) <= 1
    assert all(len(people) == 1 for email, people in users.items() if not email.startswith("familie."))


def test_moves_name_changes_typos_and_placeholder_phones(small_world):
    from ingestion.demo_world.generator import PLACEHOLDER_PHONES

    truth, shop, loyalty, esp = _by_person(small_world)
    both = [(loyalty[p], c) for p in loyalty.keys() & shop.keys() for c in shop[p]]
    homes = [(m, c) for m, c in both if m["postcode"] and c["default_address"]]
    moved = [1 for m, c in homes if m["postcode"] != c["default_address"]["zip"]]
    assert 0 < len(moved) < 0.15 * len(homes)  # an old address in the POS, the new one in the shop

    def edits(a, b):  # Levenshtein, enough for short names
        row = list(range(len(b) + 1))
        for i, x in enumerate(a, 1):
            row, prev = [i], row
            for j, y in enumerate(b, 1):
                row.append(min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (x != y)))
        return row[-1]

    typos = [1 for m, c in both if 0 < edits(m["first_name"], c["first_name"]) + edits(m["last_name"], c["last_name"]) <= 2]
    renamed = [1 for m, c in both if m["first_name"] == c["first_name"] and edits(m["last_name"], c["last_name"]) > 2]
    assert typos and renamed
    assert len(typos) < 0.15 * len(both) and len(renamed) < 0.1 * len(both)
    till_zeros = [m for m in small_world.loyalty["members"] if m["phone"] in PLACEHOLDER_PHONES["loyalty"]]
    shop_zeros = [c for c in small_world.shop["customers"] if c["phone"] in PLACEHOLDER_PHONES["shop"]]
    assert till_zeros and shop_zeros
    # placeholders are nobody's: several people behind one
    assert len({truth[("loyalty_member", m["member_id"])] for m in till_zeros}) > 1


# --- the value process (issue 7) -------------------------------------------------------------------------------


def test_purchases_follow_the_value_process_and_every_one_is_in_the_truth_once(small_world):
    from datetime import datetime, timedelta
    from statistics import mean

    from ingestion.demo_world.value import HISTORY_DAYS, OVERLAP_DAYS, TRUE_PARAMS

    w = small_world
    truth = w.value_transactions
    assert len({t["transaction_id"] for t in truth}) == len(truth)
    assert w.value_params == {**TRUE_PARAMS, "time_unit": "days", "history_days": HISTORY_DAYS, "prospect_share": 0.15,
                              "overlap_days": OVERLAP_DAYS}
    # live purchases: exactly the paid orders and the carded receipts (late tills: real, outside the process)
    paid = {str(o["id"]) for o in w.shop["orders"] if o["financial_status"] == "paid"}
    carded = {r["receipt_id"] for r in w.loyalty["receipts"] if r["card_number"]}
    late = {r["receipt_id"] for r in w.loyalty_late["receipts"] if r["card_number"]}
    assert {t["transaction_id"] for t in truth if t["source"] == "shop"} == paid
    assert {t["transaction_id"] for t in truth if t["source"] == "pos"} == carded | late
    # outside the process too: the campaigns' extra orders (their causal effect, see World.campaign_truth)
    campaign_orders = {t["transaction_id"] for t in truth if t["source"] == "shop" and not t["in_process"]}
    assert len(campaign_orders) == sum(c["extra_orders"] for c in w.campaign_truth)
    assert {t["transaction_id"] for t in truth if not t["in_process"]} == late | campaign_orders
    amounts = {str(o["id"]): o["total_price"] for o in w.shop["orders"]}
    assert all(f"{t['amount']:.2f}" == amounts[t["transaction_id"]] for t in truth if t["source"] == "shop")
    # history: before the live window, back to HISTORY_DAYS; people acquired in that span, prospects never buy
    history = [t for t in truth if t["source"] == "history"]
    assert history and all(w.start - timedelta(days=HISTORY_DAYS) <= t["purchased_at"] < w.start for t in history)
    people = {p["person_id"]: p for p in w.value_people}
    assert all(people[t["person_id"]]["acquired_at"] <= t["purchased_at"] for t in truth if t["in_process"])
    prospects = {p for p, row in people.items() if row["acquired_at"] is None}
    assert 0.08 < len(prospects) / len(people) < 0.25 and not prospects & {t["person_id"] for t in truth}
    # a person's first purchase is when they were acquired; nobody buys after dropping out
    first = {}
    for t in sorted((t for t in truth if t["in_process"]), key=lambda t: t["purchased_at"]):
        first.setdefault(t["person_id"], t["purchased_at"])
    assert all(people[p]["acquired_at"] == at for p, at in first.items())
    assert all(t["purchased_at"] <= people[t["person_id"]]["dropped_at"] for t in truth
               if t["in_process"] and people[t["person_id"]]["dropped_at"])
    # spend: mean p * gamma / (q - 1) over the population (60 EUR), repeat buyers are most buyers
    spend = TRUE_PARAMS["p"] * TRUE_PARAMS["gamma"] / (TRUE_PARAMS["q"] - 1)
    assert abs(mean(t["amount"] for t in truth if t["in_process"]) - spend) < 0.15 * spend
    per_person = Counter(t["person_id"] for t in truth if t["in_process"])
    assert 0.5 < sum(n > 1 for n in per_person.values()) / len(per_person) < 0.95
    # accounts exist by their first order, memberships and cards by their first receipt
    at = datetime.fromisoformat
    created = {c["id"]: at(c["created_at"]) for c in w.shop["customers"]}
    assert all(created[o["customer"]["id"]] <= at(o["created_at"]) for o in w.shop["orders"])
    cards = {c["card_number"]: c for c in w.loyalty["cards"]}
    joined = {m["member_id"]: m["joined_at"] for m in w.loyalty["members"]}
    assert all(cards[r["card_number"]]["issued_at"] <= r["purchased_at"] and
               joined[cards[r["card_number"]]["member_id"]] <= r["purchased_at"]
               for r in w.loyalty["receipts"] if r["card_number"])
    # the history names accounts and members that existed by then
    members = {m["member_id"]: m["joined_at"] for m in w.loyalty["members"]}
    for name, rows in w.history.items():
        for row in rows:
            day = str(row["date"])
            if row["shop_customer_id"] not in (None, "") and day[:1] == "2" and "-" in day[5:]:
                assert created[int(row["shop_customer_id"])].date().isoformat() <= day
    assert members


def test_the_history_export_overlaps_the_live_orders_and_hides_bad_rows_of_every_kind(small_world):
    from datetime import timedelta

    from ingestion.demo_world.value import BAD_ROW_KINDS, HISTORY_CSV, HISTORY_PARQUET, OVERLAP_DAYS

    w = small_world
    assert set(w.history) == {HISTORY_CSV, HISTORY_PARQUET}
    assert all(len(str(r["date"])) == 10 for r in w.history[HISTORY_CSV])  # ISO
    assert all(isinstance(r["date"], int) for r in w.history[HISTORY_PARQUET])  # YYYYMMDD
    assert Counter(b["kind"] for b in w.history_bad if b["file"] == HISTORY_CSV) == dict.fromkeys(BAD_ROW_KINDS, 2)
    assert {b["kind"] for b in w.history_bad if b["file"] == HISTORY_PARQUET} == {
        "bad_date", "future_date", "negative_amount", "no_identifier"}
    # the overlap: every paid online order of the first days, under its Shopify order id, with its amount
    early = {str(o["id"]): o["total_price"] for o in w.shop["orders"] if o["financial_status"] == "paid"
             and o["created_at"] < (w.start + timedelta(days=OVERLAP_DAYS)).isoformat()}
    exported = {r["order_id"]: f"{r['amount']:.2f}" for r in w.history[HISTORY_PARQUET] if r["order_id"] in early}
    assert early and exported == early
    # e-mail-only customers are in the ground truth as history_email
    truth = {(t["identifier_type"], t["identifier_value"]) for t in w.ground_truth}
    bad = {(b["file"], b["line"]) for b in w.history_bad}
    emails = {r["email"].strip().lower() for name, rows in w.history.items()
              for n, r in enumerate(rows, start=2 if name.endswith(".csv") else 1)
              if (name, n) not in bad and r["email"] and not r["shop_customer_id"] and not r["loyalty_member_id"]}
    assert emails and {("history_email", e) for e in emails} <= truth


def test_every_text_has_its_true_sentiment_next_to_the_ground_truth(small_world, tmp_path):
    """Comments, mentions, share messages and reviews are texts of the person's language with a known label."""
    import pyarrow.parquet as pq

    from ingestion.demo_world.texts import LABELS, LANGUAGES
    from ingestion.demo_world.writers import write_world

    w = small_world
    truth = {t["text_id"]: t for t in w.text_truth}
    assert len(truth) == len(w.text_truth)  # one row per text
    kinds = {"comments": "comment", "tags": "mention", "sharedposts": "share"}
    written = {f"social:{r['id']}": kinds[edge] for edge in kinds for r in w.social[edge] if r.get("message")}
    written |= {f"review:{r['id']}": "review" for r in w.shop["reviews"]}
    assert {k: t["kind"] for k, t in truth.items()} == written
    assert all(t["label"] in LABELS and t["language"] in LANGUAGES for t in w.text_truth)
    assert not [r for r in w.social["reactions"] + w.social["checkins"] if r.get("message")]
    # the author is the person whose handle wrote it (social) or whose shop account it is (reviews)
    person = {(g["identifier_type"], g["identifier_value"]): g["person_id"] for g in w.ground_truth}
    authors = {f"social:{r['id']}": normalize_handle(r["from"]["username"]) for e in kinds for r in w.social[e]}
    assert all(person[("social_handle", authors[k])] == t["person_id"] for k, t in truth.items() if k.startswith("social:"))
    reviews = {f"review:{r['id']}": r for r in w.shop["reviews"]}
    assert all(person[("shop_customer", str(reviews[k]["customer"]["id"]))] == t["person_id"] for k, t in truth.items() if k in reviews)
    # stars fit the words
    stars = Counter((truth[k]["label"], r["rating"]) for k, r in reviews.items())
    assert all(rating >= 4 for (label, rating) in stars if label == "positive")
    assert all(rating <= 2 for (label, rating) in stars if label == "negative")
    # a person writes in one language; about 60 % write German
    languages = {}
    for t in w.text_truth:
        assert languages.setdefault(t["person_id"], t["language"]) == t["language"]
    assert 0.5 < sum(v == "de" for v in languages.values()) / len(languages) < 0.7
    assert Counter(t["label"] for t in w.text_truth if t["kind"] == "mention")["negative"] > 10  # complaints to follow up

    paths = write_world(w, tmp_path)
    table = pq.read_table(paths["text_sentiment_truth"])
    assert table.schema.names == ["text_id", "source", "kind", "person_id", "language", "label", "occurred_at"]
    assert str(table.schema.field("occurred_at").type) == "timestamp[us, tz=UTC]"
    assert table.num_rows == len(w.text_truth)
    assert set(table.column("source").to_pylist()) == {"social", "shop_review"}


def test_posts_report_their_reach_when_the_insight_exists(small_world):
    posts = small_world.social["posts"]
    reached = [p["reach"] for p in posts if "reach" in p]
    assert 0 < len(reached) < len(posts)  # some posts have no insight (yet)
    assert all(isinstance(r, int) and r > 0 for r in reached)


def test_consent_decisions_are_in_the_systems_and_the_truth_is_the_latest_per_purpose(small_world, tmp_path):
    """Every decision a system records is one of the person's; the truth per person and purpose is the latest of
    them, read back from each system's rows (not from the decision list), and conflicts go both ways."""
    import pyarrow.parquet as pq

    from ingestion.demo_world.generator import _parse
    from ingestion.demo_world.writers import write_world

    w = small_world
    person = {(g["identifier_type"], g["identifier_value"]): g["person_id"] for g in w.ground_truth}
    from_rows = []  # (person, purpose, granted, decided_at, system) read from the systems' own rows
    for c in w.shop["customers"]:
        assert c["marketing_opt_in_level"] in ({"single_opt_in", "confirmed_opt_in"} if c["accepts_marketing"] else {None})
        if c["accepts_marketing_updated_at"]:
            at = _parse(c["accepts_marketing_updated_at"])
            assert _parse(c["created_at"]) <= at <= _parse(c["updated_at"])
            from_rows.append((person[("shop_customer", str(c["id"]))], "email_marketing", c["accepts_marketing"], at, "shop"))
    assert any(not c["accepts_marketing_updated_at"] for c in w.shop["customers"])  # never asked: no decision
    members = {m["member_id"]: m for m in w.loyalty["members"]}
    for c in w.loyalty["consents"]:
        assert c["purpose"] in {"email_marketing", "profiling", "ad_audiences"} and c["member_id"] in members
        at = c["decided_at"].replace(tzinfo=timezone.utc)
        from_rows.append((person[("loyalty_member", c["member_id"])], c["purpose"], c["granted"], at, "loyalty"))
    assert {c["purpose"] for c in w.loyalty["consents"]} == {"email_marketing", "profiling", "ad_audiences"}
    doi = [p for p in w.esp["profiles"] if p["attributes"]["subscriptions"]["email"]["marketing"]["double_optin"]]
    assert 0.2 < len(doi) / len(w.esp["profiles"]) < 0.6
    decisions = {(d["person_id"], d["purpose"], d["granted"], d["decided_at"], d["source_system"]) for d in w.consent_decisions}
    assert set(from_rows) <= decisions
    latest = {}
    for d in sorted(w.consent_decisions, key=lambda d: (d["decided_at"], not d["granted"])):
        latest[(d["person_id"], d["purpose"])] = d
    assert {(t["person_id"], t["purpose"]): (t["granted"], t["decided_at"]) for t in w.consent_truth} == {
        k: (d["granted"], d["decided_at"]) for k, d in latest.items()
    }
    # conflicts across a person's systems: a grant then a later withdrawal elsewhere, and the reverse
    by_key = {}
    for d in w.consent_decisions:
        by_key.setdefault((d["person_id"], d["purpose"]), []).append(d)
    later = Counter()
    for k, ds in by_key.items():
        if len({d["granted"] for d in ds}) > 1 and len({d["source_system"] for d in ds}) > 1:
            later[latest[k]["granted"]] += 1
    assert later[True] >= 5 and later[False] >= 5, later
    # an OR across records would call these people consenting: the latest decision says no
    assert sum(1 for k, d in latest.items() if not d["granted"] and any(x["granted"] for x in by_key[k])) >= 10
    assert {t["purpose"] for t in w.consent_truth} == {"email_marketing", "profiling", "device_data", "ad_audiences"}

    paths = write_world(w, tmp_path)
    table = pq.read_table(paths["consent_truth"])
    assert table.schema.names == ["person_id", "purpose", "granted", "decided_at", "source_system"]
    assert str(table.schema.field("decided_at").type) == "timestamp[us, tz=UTC]"
    assert table.num_rows == len(w.consent_truth)
