"""Personal data apart: direct identifiers live only in raw (the sources' own copies) and schema `pii`.

The scan reads every cell of every text-like column of every table and view outside raw and `pii`, and looks for
the world's direct identifiers (e-mails, phones, names, addresses, postcodes, cities, social handles and display
names, card numbers, device owners' e-mails), in clear or normalised, whole or (e-mails) inside longer text.
"""

from __future__ import annotations

import duckdb

from ingestion import pseudonym
from ingestion.config import SOURCE_NAMES

from .conftest import rows

RAW_SCHEMAS = set(SOURCE_NAMES) | {f"_dlt_staging_{name}" for name in SOURCE_NAMES}
EMAIL_PATTERN = r"[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}"


def clean(value: str) -> str:
    """Without the zero-width spaces and tabs pasted into the world's addresses and handles."""
    return value.replace("\u200b", "").replace("\t", "")


def world_identifiers(world) -> dict[str, set[str]]:
    """The world's direct identifiers by kind, lower-cased and trimmed, with their normalised forms."""
    found: dict[str, set] = {kind: set() for kind in ("email", "phone", "name", "address", "handle", "card")}

    def person(row: dict) -> None:
        found["email"].add(row.get("email"))
        found["phone"].add(row.get("phone") or row.get("phone_number"))
        found["name"].update((row.get("first_name"), row.get("last_name")))
        found["handle"].add(row.get("social_handle"))
        found["address"].update((row.get("postcode"), row.get("city")))
        address = row.get("default_address") or row.get("location") or {}
        found["address"].update((address.get("address1"), address.get("address2"), address.get("city"), address.get("zip")))
        found["name"].add(address.get("name"))

    for row in world.shop["customers"] + world.shop["deleted_customers"] + world.loyalty["members"]:
        person(row)
    for profile in world.esp["profiles"]:
        person(profile["attributes"])
    found["email"].update(r.get("email") for r in world.shop["abandoned_checkouts"])
    found["email"].update(r.get("owner_email") for r in world.iot["devices"] + world.iot["device_changes"])
    found["email"].update(r.get("email") for rows_ in world.history.values() for r in rows_ if isinstance(r, dict))
    for table in ("comments", "tags", "reactions", "sharedposts", "checkins"):
        for row in world.social[table]:
            found["handle"].add((row.get("from") or {}).get("username"))
            found["name"].add((row.get("from") or {}).get("name"))
    found["card"].update(r["card_number"] for r in world.loyalty["cards"] + world.loyalty["receipts"])
    out = {}
    for kind, values in found.items():
        values = {str(v) for v in values if v not in (None, "")}
        values |= {clean(v) for v in values}  # as the sources' contracts clean them on load
        forms = {v.strip().lower() for v in values}
        normaliser = {"email": pseudonym.normalize_email, "phone": pseudonym.normalize_phone,
                      "handle": pseudonym.normalize_handle}.get(kind)  # fmt: skip
        if normaliser:
            forms |= {normaliser(v) for v in values}
        out[kind] = {f for f in forms if f}
    return out


def scan(warehouse, identifiers: dict[str, set[str]], skip_schemas=frozenset(RAW_SCHEMAS | {"pii"})) -> list[tuple]:
    """(schema, relation, column, kind, example count) for every column outside ``skip_schemas`` holding an identifier."""
    hits = []
    with duckdb.connect() as con:
        con.execute(f"attach '{warehouse}' as w (read_only)")
        con.execute("create temp table ids (kind varchar, value varchar)")
        con.executemany("insert into ids values (?, ?)", [(k, v) for k, vs in identifiers.items() for v in vs])
        columns = con.execute(
            """
            select table_schema, table_name, column_name from information_schema.columns
            where table_catalog = 'w' and data_type not in ('BOOLEAN', 'DATE', 'TIMESTAMP', 'TIMESTAMP WITH TIME ZONE',
                'DOUBLE', 'FLOAT', 'INTEGER', 'SMALLINT', 'TINYINT', 'UUID', 'INTERVAL', 'TIME')
              and data_type not like 'DECIMAL%'
            order by all
            """
        ).fetchall()
        for schema, table, column in columns:
            if schema in skip_schemas:
                continue
            found = con.execute(
                f"""
                with cells as (
                    select distinct lower(trim(cast("{column}" as varchar))) as v from w."{schema}"."{table}"
                    where "{column}" is not null
                ),
                candidates as (
                    select v from cells
                    union all
                    select unnest(regexp_extract_all(v, '{EMAIL_PATTERN}')) from cells where v like '%@%'
                    union all  -- a node of the identity graph: `<type>:<value>`
                    select substr(v, strpos(v, ':') + 1) from cells where regexp_matches(v, '^[a-z_]+:')
                )
                select ids.kind, count(distinct ids.value) from candidates join ids on candidates.v = ids.value
                group by all
                """
            ).fetchall()
            hits.extend((schema, table, column, kind, n) for kind, n in found)
    return hits


def test_the_world_has_direct_identifiers_to_look_for(small_world):
    identifiers = world_identifiers(small_world)
    assert {k: len(v) > 20 for k, v in identifiers.items()} == dict.fromkeys(identifiers, True)


def test_no_direct_identifier_outside_raw_and_pii(small_build, small_world):
    identifiers = world_identifiers(small_world)
    # the scan finds them where they are allowed to be (it is not blind)
    in_pii = scan(small_build.built, identifiers, skip_schemas=frozenset(RAW_SCHEMAS))
    assert {kind for schema, *_, kind, _n in in_pii if schema == "pii"} >= {"email", "phone", "name", "address", "handle", "card"}
    leaks = scan(small_build.built, identifiers)
    assert not leaks, leaks


def test_person_identifiers_hold_every_identifier_in_clear_with_the_keyed_hash_the_graph_uses(small_build, small_world):
    key = pseudonym.key(small_build.built)
    found = {(t, v): (p, h) for p, t, v, h in rows(small_build.built, "select person_id, identifier_type, identifier_value, "
                                                                        "identifier_hash from pii.person_identifiers")}  # fmt: skip
    truth = small_world.ground_truth
    assert all((t["identifier_type"], t["identifier_value"]) in found for t in truth)
    assert all(h == pseudonym.keyed_hash(v, key) for (_t, v), (_p, h) in found.items())
    # the identifier map names e-mails, handles and cards by that hash, everything else as the source does
    graph = {(t, v): p for t, v, p in rows(small_build.built, "select * from intermediate.int_identity__identifier_map")}
    hashed = {"esp_contact", "social_handle", "loyalty_card", "history_email"}
    assert len(graph) == len(truth)
    for t in truth:
        person, digest = found[(t["identifier_type"], t["identifier_value"])]
        value = digest if t["identifier_type"] in hashed else t["identifier_value"]
        assert graph[(t["identifier_type"], value)] == person
    # a person is found by an address only their shop account or membership carries (no record of its own)
    shop_emails = {pseudonym.normalize_email(clean(c["email"])) for c in small_world.shop["customers"] if c["email"]}
    records = {v for (t, v) in found if t in ("esp_contact", "history_email")}
    assert {("email", e) for e in shop_emails - records} <= set(found)


def test_person_contacts_give_each_person_their_own_contact_values(small_build, small_world):
    person_of = {(t["identifier_type"], t["identifier_value"]): t["person_id"] for t in small_world.ground_truth}
    emails, names = {}, {}
    for c in small_world.shop["customers"]:
        p = person_of.get(("shop_customer", str(c["id"])))
        emails.setdefault(p, set()).add(pseudonym.normalize_email(clean(c["email"] or "")))
        names.setdefault(p, set()).add(c["last_name"])
    for m in small_world.loyalty["members"]:
        p = person_of.get(("loyalty_member", m["member_id"]))
        emails.setdefault(p, set()).add(pseudonym.normalize_email(clean(m["email"] or "")))
        names.setdefault(p, set()).add(m["last_name"])
    for profile in small_world.esp["profiles"]:
        p = person_of.get(("esp_contact", pseudonym.normalize_email(clean(profile["attributes"]["email"] or ""))))
        names.setdefault(p, set()).add(profile["attributes"]["last_name"])
    names = {p: {n.strip().lower() for n in ns if n} for p, ns in names.items()}
    for t in small_world.ground_truth:
        if t["identifier_type"] in ("esp_contact", "history_email"):
            emails.setdefault(t["person_id"], set()).add(t["identifier_value"])
    true_persons = {}
    for person, t, v in rows(small_build.built, "select person_id, identifier_type, identifier_value from pii.person_identifiers"):
        if (t, v) in person_of:
            true_persons.setdefault(person, set()).add(person_of[(t, v)])
    contacts = rows(small_build.built, "select person_id, email, last_name from pii.person_contacts")
    assert len(contacts) == len({p for p, *_ in contacts}) == rows(small_build.built, "select count(*) from marts.customer_360")[0][0]
    right_email = [p for p, email, _ in contacts if email and any(email in emails.get(t, ()) for t in true_persons[p])]
    right_name = [p for p, _, last in contacts
                  if last and any(last.strip().lower() in names.get(t, ()) for t in true_persons[p])]
    with_email = [p for p, email, _ in contacts if email]
    with_name = [p for p, _, last in contacts if last]
    assert len(with_email) >= 0.9 * len(contacts) and len(right_email) >= 0.99 * len(with_email)
    assert len(with_name) >= 0.5 * len(contacts) and len(right_name) >= 0.99 * len(with_name)
