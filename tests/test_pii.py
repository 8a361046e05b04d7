"""Personal data apart: direct identifiers live only in raw (the sources' own copies) and schema `pii`.

The scan reads every cell of every text-like column of every table and view outside raw and `pii`, and looks for
the world's direct identifiers (e-mails, phones, names, addresses, postcodes, cities, social handles and display
names, card numbers, device owners' e-mails), in clear or normalised, whole or (e-mails) inside longer text.
"""

from __future__ import annotations

import duckdb
import pytest

from ingestion import pseudonym
from ingestion.config import SOURCE_NAMES

from conftest import rows

RAW_SCHEMAS = set(SOURCE_NAMES) | {f"_dlt_staging_{name}" for name in SOURCE_NAMES}
EMAIL_PATTERN = r"[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}"


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
