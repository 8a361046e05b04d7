"""Keyed pseudonyms (ingestion.pseudonym) and the DuckDB function dbt models hash with (ingestion.dbt_pseudonym)."""

import hashlib
import hmac
import json
import os
import stat

import duckdb
import pytest

from ingestion import pseudonym
from orchestration.lib.dbt import run_dbt

# RFC 4231, test case 2
RFC_KEY, RFC_DATA = b"Jefe", "what do ya want for nothing?"
RFC_MAC = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"

# what the world's values do not show: DuckDB's trim strips Unicode spaces (Zs), not tabs or line breaks
EDGE_CASES = [
    "  Anna.Schmidt@Web.TEST  ", "\u00a0x@y.test\u3000", "\tTab@Mail.test\n", "", "   ", "@", "@@Foo_Bar ", " @Ünïcödé ",
    "+49 (0)155 765-3855", "0049.155.765", "tel: none", "ÄÖÜ@ÖÖ.test", "İstanbul@x.test", "ẞtraße@x.test", "ΟΔΟΣ@ΣΑΣ.test", "@ΌΣΟΣ",
]  # fmt: skip


@pytest.fixture()
def no_key_env(monkeypatch):
    monkeypatch.delenv(pseudonym.KEY_ENV, raising=False)
    monkeypatch.delenv(pseudonym.KEY_FILE_ENV, raising=False)


def test_keyed_hash_is_hmac_sha256():
    assert pseudonym.keyed_hash(RFC_DATA, RFC_KEY) == RFC_MAC
    assert pseudonym.keyed_hash(None, RFC_KEY) is None
    other = pseudonym.keyed_hash(RFC_DATA, b"another key")
    assert other != RFC_MAC and len(other) == 64
    # never the bare hash a mailing list recomputes
    assert pseudonym.keyed_hash("a@b.test", RFC_KEY) not in {
        hashlib.sha256(b"a@b.test").hexdigest(), hashlib.md5(b"email:a@b.test").hexdigest()
    }


def test_key_from_environment_then_file_then_generated_next_to_the_warehouse(tmp_path, monkeypatch, no_key_env):
    warehouse = tmp_path / "w" / "warehouse.duckdb"
    generated = pseudonym.key(warehouse)
    path = tmp_path / "w" / "pseudonym.key"
    assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(generated) >= 64 and pseudonym.key(warehouse) == generated  # generated once, then reused

    named = tmp_path / "elsewhere.key"
    named.write_text("k" * 40 + "\n")
    monkeypatch.setenv(pseudonym.KEY_FILE_ENV, str(named))
    assert pseudonym.key(warehouse) == b"k" * 40

    monkeypatch.setenv(pseudonym.KEY_ENV, "e" * 32)
    assert pseudonym.key(warehouse) == b"e" * 32
    assert pseudonym.keyed_hash("x", None) == hmac.new(b"e" * 32, b"x", hashlib.sha256).hexdigest()

    monkeypatch.setenv(pseudonym.KEY_ENV, "short")
    with pytest.raises(RuntimeError, match="too short") as error:
        pseudonym.key(warehouse)
    assert "short" not in str(error.value).replace("too short", "")  # the key itself is never in a message


def _world_identifiers(world) -> dict[str, set[str]]:
    values = {"email": set(), "phone": set(), "handle": set()}
    for row in world.shop["customers"] + world.shop["deleted_customers"] + world.loyalty["members"]:
        values["email"].add(row.get("email"))
        values["phone"].add(row.get("phone"))
        values["handle"].add(row.get("social_handle"))
    values["email"].update(r.get("email") for r in world.shop["abandoned_checkouts"])
    values["email"].update(r.get("owner_email") for r in world.iot["devices"])
    values["email"].update(r.get("email") for rows in world.history.values() for r in rows if isinstance(r, dict))
    for profile in world.esp["profiles"]:
        values["email"].add(profile["attributes"].get("email"))
        values["phone"].add(profile["attributes"].get("phone_number"))
    for table in ("comments", "tags", "reactions", "sharedposts", "checkins"):
        values["handle"].update((r.get("from") or {}).get("username") for r in world.social[table])
    return {kind: {v for v in found if isinstance(v, str)} | set(EDGE_CASES) for kind, found in values.items()}


def test_normalizers_and_keyed_hash_equal_the_dbt_macros_on_the_worlds_values(small_world, tmp_path, no_key_env):
    """dbt (its macros, and jw_keyed_hash through the plugin on dbt's own connection) and Python agree value for value."""
    identifiers = _world_identifiers(small_world)
    assert len(identifiers["email"]) > 200 and len(identifiers["phone"]) > 50 and len(identifiers["handle"]) > 50
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create table main.vals (kind varchar, v varchar)")
        con.executemany("insert into main.vals values (?, ?)", [(k, v) for k, vs in identifiers.items() for v in vs])
        con.execute("insert into main.vals values ('email', null)")
    sql = """
        select kind, v,
            case kind when 'email' then {{ normalize_email('v') }} when 'phone' then {{ normalize_phone('v') }}
                else {{ normalize_handle('v') }} end as normalised,
            {{ keyed_hash("case kind when 'email' then " ~ normalize_email('v') ~ " when 'phone' then "
                ~ normalize_phone('v') ~ " else " ~ normalize_handle('v') ~ " end") }} as hashed
        from main.vals
    """
    done = run_dbt(["show", "--inline", sql, "--limit", "-1", "--output", "json", "--quiet"], warehouse, tmp_path / "target")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    shown = json.loads(done.stdout[done.stdout.index("{"):])["show"]
    assert len(shown) == sum(map(len, identifiers.values())) + 1

    key = (tmp_path / "pseudonym.key").read_text().strip().encode()  # the plugin made it next to the warehouse
    assert pseudonym.key(warehouse) == key
    normalisers = {"email": pseudonym.normalize_email, "phone": pseudonym.normalize_phone, "handle": pseudonym.normalize_handle}
    differ = [r for r in shown if normalisers[r["kind"]](r["v"]) != r["normalised"]]
    assert not differ, differ[:5]
    unhashed = [r for r in shown if pseudonym.keyed_hash(r["normalised"], key) != r["hashed"]]
    assert not unhashed, unhashed[:5]
    assert sum(r["hashed"] is None for r in shown) >= 3  # null, '' and blanks stay null
    assert pseudonym.hash_identifier("email", " A@B.test ", key) == pseudonym.keyed_hash("a@b.test", key)

    # the key never reaches SQL dbt compiled, its logs or its artifacts
    written = [p for p in (tmp_path / "target").rglob("*") if p.is_file()]
    assert written
    assert not [p for p in written if key in p.read_bytes()]


def test_plugin_registers_on_a_plain_connection(tmp_path, monkeypatch, no_key_env):
    from ingestion import dbt_pseudonym

    monkeypatch.setenv(pseudonym.KEY_ENV, "s" * 48)
    with duckdb.connect() as con:
        dbt_pseudonym.register(con)
        got = con.execute("select jw_keyed_hash('a@b.test'), jw_keyed_hash(null)").fetchone()
    assert got == (hmac.new(b"s" * 48, b"a@b.test", hashlib.sha256).hexdigest(), None)
    assert os.environ[pseudonym.KEY_ENV] == "s" * 48
