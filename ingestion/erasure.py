"""Erasure of one person (``journey forget``), without Dagster: find, delete, suppress.

- :func:`person_identifiers`: the person's identifiers (kind, normalised value): what the identity graph knows
  of the person (``pii.person_identifiers``, in clear; in a warehouse built before schema ``pii`` existed,
  ``intermediate.int_identity__identifier_map``)
  and the address asked for, closed over the raw tables: every raw row carrying one of them is the person's,
  and the source-system ids such a row carries (shop customer, ESP profile, loyalty member and card, device,
  web visitor) are the person's too, until nothing new turns up. E-mails, phones and handles are never
  followed from a row to others (a shared family phone would erase the family).
- :func:`delete_person`: deletes those rows from every raw table of the six sources, their child tables
  (order lines), their quarantine (by record key); :func:`empty_staging_datasets` empties dlt's merge staging.
- :func:`write_suppression` / :func:`suppressed_filter`: keyed hashes (``ingestion.pseudonym``) of the
  identifiers in ``$JW_DATA_DIR/suppression.json``; :mod:`ingestion.pipelines` drops every record a source
  sends whose person columns hash to a suppressed value, so the next ingestion does not bring the person back.
- :func:`scrub_pipeline_folders`: dlt's local load packages and traces (they hold the rows as loaded).
- :func:`rewrite_database`: ``COPY FROM DATABASE`` into a new file and swap it in, so deleted bytes are gone.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Iterable

import duckdb
import pyarrow as pa

from . import config, pseudonym

DIRECT_KINDS = ("email", "phone", "handle")  # direct identifiers: matched, never followed
# Phones are shared (a household's landline, a shop's default number): a phone of the person is never matched
# against other rows nor suppressed; the rows of the person's own records that carry it go with those records.
UNFOLLOWED_KINDS = ("phone",)
ID_KINDS = ("shop_customer", "esp_profile", "loyalty_member", "loyalty_card", "iot_device", "shop_visitor")

_NORMALIZERS = {"email": pseudonym.normalize_email, "phone": pseudonym.normalize_phone, "handle": pseudonym.normalize_handle}

# Columns of each raw table that name a person, and the kind of identifier each holds.
PERSON_COLUMNS: dict[tuple[str, str], dict[str, str]] = {
    ("shop", "customers"): {"id": "shop_customer", "email": "email", "phone": "phone", "social_handle": "handle"},
    ("shop", "orders"): {"customer_id": "shop_customer"},
    ("shop", "abandoned_checkouts"): {"customer_id": "shop_customer", "email": "email"},
    ("shop", "reviews"): {"customer_id": "shop_customer"},
    ("shop", "events"): {"user_id": "shop_customer", "domain_userid": "shop_visitor"},
    ("esp", "profiles"): {"id": "esp_profile", "email": "email", "phone_number": "phone"},
    ("esp", "events"): {"profile_id": "esp_profile"},
    ("social", "interactions"): {"handle": "handle"},
    ("loyalty", "members"): {"member_id": "loyalty_member", "email": "email", "phone": "phone"},
    ("loyalty", "cards"): {"card_number": "loyalty_card", "member_id": "loyalty_member"},
    ("loyalty", "receipts"): {"card_number": "loyalty_card"},
    ("loyalty", "points"): {"member_id": "loyalty_member"},
    ("loyalty", "consents"): {"member_id": "loyalty_member"},
    ("iot", "devices"): {"device_id": "iot_device", "owner_email": "email"},
    ("iot", "device_consents"): {"device_id": "iot_device"},
    ("iot", "readings"): {"device_id": "iot_device"},
    ("history", "orders"): {"shop_customer_id": "shop_customer", "loyalty_member_id": "loyalty_member", "email": "email"},
}
# Primary key of each table (what its quarantine rows carry as record_key).
PRIMARY_KEYS: dict[tuple[str, str], str] = {
    ("shop", "customers"): "id", ("shop", "orders"): "id", ("shop", "abandoned_checkouts"): "id",
    ("shop", "reviews"): "id", ("shop", "events"): "event_id", ("esp", "profiles"): "id", ("esp", "events"): "id",
    ("social", "interactions"): "id", ("loyalty", "members"): "member_id", ("loyalty", "cards"): "card_number",
    ("loyalty", "receipts"): "receipt_id", ("loyalty", "points"): "points_txn_id", ("loyalty", "consents"): "consent_id", ("iot", "devices"): "device_id",
    ("iot", "readings"): "reading_id", ("history", "orders"): "history_order_id",
}  # fmt: skip
# Child tables: (source, parent) -> [(child table, its column holding the parent's key)]
CHILDREN: dict[tuple[str, str], list[tuple[str, str]]] = {
    ("shop", "orders"): [("orders__lines", "order_id")],
    ("shop", "abandoned_checkouts"): [("abandoned_checkouts__lines", "checkout_id")],
}
# identifier types of the identity graph -> kinds here
GRAPH_KINDS = {
    "shop_customer": "shop_customer", "esp_contact": "email", "social_handle": "handle",
    "loyalty_member": "loyalty_member", "loyalty_card": "loyalty_card", "iot_device": "iot_device",
    "history_email": "email", "email": "email", "phone": "phone", "handle": "handle",
}  # fmt: skip


def normalize(kind: str, value) -> str | None:
    """An identifier as the warehouse matches it (``ingestion.pseudonym``'s normalizers = the dbt macros)."""
    if value is None:
        return None
    text = str(value)
    if kind in _NORMALIZERS:
        return _NORMALIZERS[kind](text)
    return pseudonym._nullif_empty(pseudonym._trim(text))


def _sql_normalized(kind: str, column: str) -> str:
    column = f'cast("{column}" as varchar)'
    if kind == "email":
        return f"nullif(lower(trim({column})), '')"
    if kind == "handle":
        return f"nullif(lower(ltrim(trim({column}), '@')), '')"
    if kind == "phone":
        return f"nullif(regexp_replace(trim({column}), '[^0-9+]', '', 'g'), '')"
    return f"nullif(trim({column}), '')"


# --- keyed hashing (ingestion.pseudonym, P2) -------------------------------------------------------------------


def identifier_hash(kind: str, value: str, key: bytes | None = None) -> str:
    """The keyed hash (``ingestion.pseudonym.keyed_hash``) the suppression list keeps of one identifier:
    of ``<kind>:<normalised value>``, so that equal values of different kinds never suppress each other."""
    return pseudonym.keyed_hash(f"{kind}:{value}", key)


# --- finding the person ----------------------------------------------------------------------------------------


def _relations(con) -> set[tuple[str, str]]:
    return {(s, t) for s, t in con.execute("select table_schema, table_name from information_schema.tables").fetchall()}


def _columns(con, schema: str, table: str) -> set[str]:
    return {c for (c,) in con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ?", [schema, table]
    ).fetchall()}  # fmt: skip


def person_ids_for(con, email: str | None = None, person_id: str | None = None) -> set[str]:
    """The person_ids the warehouse has for an e-mail address (normalised), or ``{person_id}``."""
    if person_id:
        return {person_id}
    relations = _relations(con)
    address = normalize("email", email)
    found: set[str] = set()
    if ("pii", "person_identifiers") in relations:
        found |= {p for (p,) in con.execute(
            "select distinct person_id from pii.person_identifiers where identifier_type in ('email', 'esp_contact', "
            "'history_email') and lower(identifier_value) = ? and person_id is not null", [address]).fetchall()}  # fmt: skip
    if ("pii", "person_identifiers") not in relations and ("intermediate", "int_identity__identifier_map") in relations:
        found |= {p for (p,) in con.execute(
            "select distinct person_id from intermediate.int_identity__identifier_map "
            "where identifier_type in ('esp_contact', 'history_email') and identifier_value = ? and person_id is not null",
            [address]).fetchall()}  # fmt: skip
        # the e-mail of a shop customer, loyalty member or device owner: through that record's id
        for (schema, table), columns in PERSON_COLUMNS.items():
            if (schema, table) not in relations:
                continue
            for column, kind in columns.items():
                if kind != "email" or column not in _columns(con, schema, table):
                    continue
                for id_column, id_kind in columns.items():
                    graph_type = {"shop_customer": "shop_customer", "loyalty_member": "loyalty_member",
                                  "iot_device": "iot_device"}.get(id_kind)  # fmt: skip
                    if graph_type:
                        found |= {p for (p,) in con.execute(
                            f"select distinct m.person_id from {schema}.{table} as r "
                            f"join intermediate.int_identity__identifier_map as m on m.identifier_type = ? "
                            f"and m.identifier_value = cast(r.\"{id_column}\" as varchar) "
                            f"where {_sql_normalized('email', column)} = ? and m.person_id is not null",
                            [graph_type, address]).fetchall()}  # fmt: skip
    return found


def _blocklist(con, relations) -> list[tuple[str, "re.Pattern"]]:
    """The identity graph's placeholder and shared keys (seed ``identity_blocklist``): never followed to other
    people's rows (a family mailbox, ``noreply@``)."""
    if ("seeds", "identity_blocklist") not in relations:
        return []
    return [(key_type, re.compile(pattern)) for key_type, pattern in
            con.execute("select key_type, pattern from seeds.identity_blocklist").fetchall()]  # fmt: skip


def _blocklisted(blocklist, kind: str, value: str) -> bool:
    return any(key_type == kind and pattern.search(value) for key_type, pattern in blocklist)


def graph_identifiers(con, person_ids: set[str]) -> set[tuple[str, str]]:
    """What the identity graph knows of the persons: (kind, normalised value)."""
    relations = _relations(con)
    found: set[tuple[str, str]] = set()
    if not person_ids:
        return found
    ids = list(person_ids)
    marks = ", ".join("?" for _ in ids)
    blocklist = _blocklist(con, relations)
    # pii.person_identifiers has every identifier in clear; without it (a warehouse built before schema pii),
    # the identifier map, whose values were clear then
    for relation in ("pii.person_identifiers", "intermediate.int_identity__identifier_map"):
        if tuple(relation.split(".")) not in relations:
            continue
        for identifier_type, value in con.execute(
            f"select identifier_type, identifier_value from {relation} where person_id in ({marks})", ids
        ).fetchall():
            kind = GRAPH_KINDS.get(identifier_type) or GRAPH_KINDS.get(identifier_type.removeprefix("history_"))
            if kind in UNFOLLOWED_KINDS:
                continue
            if kind and (value := normalize(kind, value)) and not _blocklisted(blocklist, kind, value):
                found.add((kind, value))
        break
    return found


def _row_filter(columns: dict[str, str], present: set[str], by_kind: dict[str, list[str]]) -> str | None:
    clauses = []
    for column, kind in columns.items():
        if column in present and by_kind.get(kind):
            clauses.append(f"{_sql_normalized(kind, column)} in (select v from _forget_ids where kind = '{kind}')")
    return " or ".join(clauses) or None


def person_identifiers(con, seeds: Iterable[tuple[str, str]], max_rounds: int = 10) -> set[tuple[str, str]]:
    """``seeds`` closed over the raw tables (see the module docstring)."""
    found = {(k, v) for k, v in seeds if v}
    con.execute("create or replace temp table _forget_ids (kind varchar, v varchar)")
    relations = _relations(con)
    for _ in range(max_rounds):
        con.execute("delete from _forget_ids")
        con.executemany("insert into _forget_ids values (?, ?)", sorted(found))
        by_kind = defaultdict(list)
        for kind, value in found:
            by_kind[kind].append(value)
        new = set()
        for (schema, table), columns in PERSON_COLUMNS.items():
            if (schema, table) not in relations:
                continue
            present = _columns(con, schema, table)
            where = _row_filter(columns, present, by_kind)
            if not where:
                continue
            followed = [(c, k) for c, k in columns.items() if k in ID_KINDS and c in present]
            if not followed:
                continue
            select = ", ".join(_sql_normalized(k, c) for c, k in followed)
            for row in con.execute(f"select distinct {select} from {schema}.{table} where {where}").fetchall():
                new |= {(k, v) for (_, k), v in zip(followed, row) if v}
        if new <= found:
            break
        found |= new
    con.execute("delete from _forget_ids")
    con.executemany("insert into _forget_ids values (?, ?)", sorted(found))
    return found


# --- deleting ----------------------------------------------------------------------------------------------------


def delete_person(con, identifiers: set[tuple[str, str]]) -> dict[str, int]:
    """Delete every raw row of the person (``identifiers`` from :func:`person_identifiers`), with child and
    quarantine rows. Returns rows deleted per ``schema.table``."""
    con.execute("create or replace temp table _forget_ids (kind varchar, v varchar)")
    con.executemany("insert into _forget_ids values (?, ?)", sorted(identifiers))
    by_kind = defaultdict(list)
    for kind, value in identifiers:
        by_kind[kind].append(value)
    relations = _relations(con)
    removed: dict[str, int] = {}

    def run(relation: str, sql: str, params=()) -> None:
        n = con.execute(sql, list(params)).fetchone()[0]
        if n:
            removed[relation] = removed.get(relation, 0) + n

    for (schema, table), columns in PERSON_COLUMNS.items():
        if (schema, table) not in relations:
            continue
        where = _row_filter(columns, _columns(con, schema, table), by_kind)
        if not where:
            continue
        key = PRIMARY_KEYS.get((schema, table))
        key_sql = f'cast("{key}" as varchar)' if key else "cast(null as varchar)"
        con.execute(f"create or replace temp table _forget_keys as select distinct {key_sql} as k "
                    f"from {schema}.{table} where {where}")  # fmt: skip
        for child, parent_column in CHILDREN.get((schema, table), []):
            if (schema, child) in relations:
                run(f"{schema}.{child}", f"delete from {schema}.{child} where cast(\"{parent_column}\" as varchar) "
                    f"in (select k from _forget_keys)")  # fmt: skip
        quarantine = f"{table}__quarantine"
        if (schema, quarantine) in relations:
            key_kind = columns.get(key)
            extra = f" or record_key in (select v from _forget_ids where kind = '{key_kind}')" if key_kind else ""
            run(f"{schema}.{quarantine}", f"delete from {schema}.{quarantine} where record_key in "
                f"(select k from _forget_keys){extra}")  # fmt: skip
        run(f"{schema}.{table}", f"delete from {schema}.{table} where {where}")
    return removed


def empty_staging_datasets(con) -> dict[str, int]:
    """Empty dlt's merge staging datasets (``_dlt_staging_<source>``: the last load's rows, everyone's; dlt
    refills them on the next merge). Their ``_dlt`` bookkeeping tables stay. Returns rows per table."""
    emptied = {}
    for schema, table in sorted(_relations(con)):
        if schema.startswith("_dlt_staging_") and not table.startswith("_dlt"):
            n = con.execute(f'delete from "{schema}"."{table}"').fetchone()[0]
            if n:
                emptied[f"{schema}.{table}"] = n
    return emptied


def delete_person_ids(con, person_ids: set[str]) -> dict[str, int]:
    """Rows naming the person ids in models dbt keeps across runs (incremental), which a rebuild does not drop."""
    removed = {}
    relations = _relations(con)
    ids = sorted(person_ids)
    if not ids:
        return removed
    marks = ", ".join("?" for _ in ids)
    for schema, table in sorted(relations):
        if schema not in ("intermediate", "marts", "pii"):
            continue
        columns = _columns(con, schema, table) & {"person_id", "previous_person_id"}
        kind = con.execute("select table_type from information_schema.tables where table_schema = ? and table_name = ?",
                           [schema, table]).fetchone()[0]  # fmt: skip
        if not columns or kind != "BASE TABLE":
            continue
        where = " or ".join(f"{c} in ({marks})" for c in sorted(columns))
        n = con.execute(f"delete from {schema}.{table} where {where}", ids * len(columns)).fetchone()[0]
        if n:
            removed[f"{schema}.{table}"] = n
    return removed


def sweep_derived_tables(con, identifiers: set[tuple[str, str]]) -> dict[str, int]:
    """Rows of any other table (outside the sources' raw schemas and dlt's) with a text column holding one of
    the person's e-mails (anywhere in the text: ``esp_contact:<address>`` nodes) or handles (the whole value, or
    after a ``type:`` prefix): tables dbt no longer builds (a model moved to another schema leaves its old table
    behind) or keeps across runs. Returns rows deleted per table."""
    emails = sorted(v for k, v in identifiers if k == "email")
    handles = sorted(v for k, v in identifiers if k == "handle")
    if not emails and not handles:
        return {}
    skip = set(config.SOURCE_NAMES) | {"information_schema", "pg_catalog"}
    removed = {}
    tables = con.execute(
        "select table_schema, table_name from information_schema.tables where table_type = 'BASE TABLE'").fetchall()
    for schema, table in sorted(tables):
        if schema in skip or schema.startswith("_dlt") or table.startswith("_dlt"):
            continue
        columns = [c for (c,) in con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
            "and data_type = 'VARCHAR'", [schema, table]).fetchall()]  # fmt: skip
        clauses, params = [], []
        for column in columns:
            text = f'lower("{column}")'
            for email in emails:
                clauses.append(f"contains({text}, ?)")
                params.append(email)
            for handle in handles:
                clauses.append(f"({text} = ? or ends_with({text}, ?))")
                params += [handle, ":" + handle]
        if clauses:
            n = con.execute(f'delete from "{schema}"."{table}" where ' + " or ".join(clauses), params).fetchone()[0]
            if n:
                removed[f"{schema}.{table}"] = n
    return removed


# --- suppression ---------------------------------------------------------------------------------------------------


def suppression_path() -> Path:
    return config.data_dir() / "suppression.json"


def read_suppression(path: Path | None = None) -> dict[str, set[str]]:
    """Suppressed keyed hashes per identifier kind (empty when there is no list)."""
    path = path or suppression_path()
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return {kind: set(hashes) for kind, hashes in data.get("hashes", {}).items()}


def write_suppression(identifiers: set[tuple[str, str]], path: Path | None = None) -> int:
    """Add the identifiers' keyed hashes to the suppression list; returns how many were new."""
    path = path or suppression_path()
    current = read_suppression(path)
    before = sum(len(v) for v in current.values())
    key = pseudonym.key()
    for kind, value in identifiers:
        current.setdefault(kind, set()).add(identifier_hash(kind, value, key))
    data = {"about": "keyed hashes (HMAC-SHA256, ingestion.pseudonym) of 'kind:normalised value' of erased people; "
                     "ingestion drops records whose person columns hash to one of them",
            "hashes": {kind: sorted(hashes) for kind, hashes in sorted(current.items())}}  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)
    return sum(len(v) for v in current.values()) - before


def _table_name(item, meta) -> str | None:
    hints = getattr(meta, "hints", None)
    if isinstance(hints, dict) and hints.get("table_name"):
        return hints["table_name"]
    return None


def suppressed_filter(source: str, resource: str, suppressed: dict[str, set[str]]):
    """A dlt map (item, meta) for one resource that drops records of suppressed people: rows of the resource's
    table whose person columns hash to a suppressed value, child rows of dropped parents, quarantine rows of
    suppressed record keys. Works on Arrow tables and on lists of dicts."""
    dropped_keys: set[str] = set()
    key = pseudonym.key()
    seen: dict[tuple[str, object], bool] = {}  # (kind, raw value) -> suppressed; a value repeats across rows

    def is_suppressed(kind: str, raw) -> bool:
        hit = seen.get((kind, raw))
        if hit is None:
            value = normalize(kind, raw)
            hit = seen[(kind, raw)] = bool(value) and identifier_hash(kind, value, key) in suppressed[kind]
            if len(seen) > 1_000_000:
                seen.clear()
        return hit

    def suppressed_row(columns: dict[str, str], row: dict) -> bool:
        return any(suppressed.get(kind) and row.get(column) is not None and is_suppressed(kind, row.get(column))
                   for column, kind in columns.items())

    def keep_mask(table: str, rows: list[dict]) -> list[bool]:
        if table.endswith("__quarantine"):
            parent = table.removesuffix("__quarantine")
            key_kind = PERSON_COLUMNS.get((source, parent), {}).get(PRIMARY_KEYS.get((source, parent), ""))
            return [not (str(r.get("record_key")) in dropped_keys or (key_kind and suppressed_row(
                {"record_key": key_kind}, r))) for r in rows]  # fmt: skip
        for (schema, parent), children in CHILDREN.items():
            for child, parent_column in children:
                if schema == source and table == child:
                    return [str(r.get(parent_column)) not in dropped_keys for r in rows]
        columns = PERSON_COLUMNS.get((source, table))
        if not columns:
            return [True] * len(rows)
        key = PRIMARY_KEYS.get((source, table))
        mask = []
        for r in rows:
            drop = suppressed_row(columns, r)
            if drop and key:
                dropped_keys.add(str(r.get(key)))
            mask.append(not drop)
        return mask

    def read_columns(table: str) -> set[str]:
        """The columns keep_mask reads of ``table`` (an Arrow batch is turned into rows of these only)."""
        needed = {"record_key", *PERSON_COLUMNS.get((source, table), {}), PRIMARY_KEYS.get((source, table), "")}
        needed.update(column for (schema, _), children in CHILDREN.items() if schema == source
                      for child, column in children if child == table)  # fmt: skip
        return needed

    def apply(item, meta=None):
        table = _table_name(item, meta) or resource
        if isinstance(item, pa.Table):
            needed = read_columns(table)
            mask = keep_mask(table, item.select([c for c in item.column_names if c in needed]).to_pylist())
            return item if all(mask) else item.filter(pa.array(mask, pa.bool_()))
        if isinstance(item, list):
            rows = [r for r in item if isinstance(r, dict)]
            if len(rows) != len(item):
                return item
            mask = keep_mask(table, rows)
            return [r for r, keep in zip(item, mask) if keep]
        if isinstance(item, dict):
            return item if keep_mask(table, [item])[0] else None
        return item

    return apply


def residue(needles: Iterable[str], root: Path | None = None) -> list[str]:
    """Files under the data folder (``source_systems/`` excepted: the external systems' stand-ins) that still
    contain one of ``needles`` (any case): what an operator must look at after an erasure."""
    root = Path(root or config.data_dir())
    lowered = [n.lower().encode() for n in needles if n]
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or "source_systems" in path.relative_to(root).parts:
            continue
        data = path.read_bytes().lower()
        if any(n in data for n in lowered):
            found.append(str(path.relative_to(root)))
    return found


def apply_suppression(source_name: str, source, suppressed: dict[str, set[str]] | None = None):
    """Add :func:`suppressed_filter` to every resource of ``source`` when the suppression list is not empty."""
    suppressed = read_suppression() if suppressed is None else suppressed
    if not any(suppressed.values()):
        return source
    for name, resource in source.resources.items():
        resource.add_map(suppressed_filter(source_name, name, suppressed))
    return source


# --- files and the database file ---------------------------------------------------------------------------------------


def scrub_pipeline_folders(pipelines_dir: Path | None = None) -> dict[str, int]:
    """Delete dlt's local load packages (extracted, normalized, loaded: the rows as loaded) and run traces of
    every pipeline; its state and schemas stay (the next run continues from its cursors)."""
    root = Path(pipelines_dir or config.pipelines_dir())
    removed: dict[str, int] = {}
    if not root.is_dir():
        return removed
    for pipeline in sorted(p for p in root.iterdir() if p.is_dir()):
        n = 0
        for name in ("load", "normalize", "extract"):
            folder = pipeline / name
            if folder.is_dir():
                n += sum(1 for f in folder.rglob("*") if f.is_file())
                shutil.rmtree(folder)
        for trace in pipeline.glob("trace*"):
            trace.unlink()
            n += 1
        if n:
            removed[pipeline.name] = n
    return removed


def rewrite_database(warehouse: Path) -> tuple[int, int]:
    """Copy the warehouse into a fresh file (``COPY FROM DATABASE``) and swap it in: the free blocks of the old
    file, which may still hold deleted rows, are gone. Returns the file sizes before and after."""
    warehouse = Path(warehouse)
    fresh = warehouse.with_name(warehouse.name + ".forget-new")
    for leftover in (fresh, fresh.with_name(fresh.name + ".wal")):
        leftover.unlink(missing_ok=True)
    before = warehouse.stat().st_size
    # the connection holds DuckDB's write lock on the old file until the new one is in place: no other writer
    # can slip in between the copy and the swap (its writes would go to the old file)
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("checkpoint")
        con.execute(f"attach '{fresh}' as forget_new")
        con.execute("copy from database \"{}\" to forget_new".format(
            con.execute("select current_database()").fetchone()[0]))  # fmt: skip
        con.execute("detach forget_new")
        with open(fresh, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(fresh, warehouse)
    finally:
        con.close()
    return before, warehouse.stat().st_size
