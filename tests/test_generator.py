from collections import Counter

from ingestion.demo_world import generate, normalize_email, normalize_handle
from ingestion.sources._contracts import normalize_identifier

DEFAULT_COUNTS = {
    "shop": {
        "customers": 1757, "orders": 2766, "abandoned_checkouts": 495, "events": 65064,
        "customer_events": 9, "deleted_customers": 9,
    },
    "esp": {"campaigns": 12, "campaign_messages": 12, "metrics": 4, "profiles": 1292, "events": 22273},
    "social": {"posts": 45, "comments": 631, "tags": 557, "reactions": 1851, "sharedposts": 589, "checkins": 595},
    "loyalty": {"members": 919, "cards": 1013, "receipts": 4646, "points": 3717},
    "iot": {"devices": 302, "readings": 50926},
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
        "iot_device": 179,
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
    opted_in = {d["device_id"] for d in w.iot["devices"] if d["opted_in"]}
    assert {v for (t, v) in truth if t == "iot_device"} == opted_in  # opted-out devices are nobody's business


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
