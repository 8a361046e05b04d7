"""Keyed pseudonyms: the one place that holds the pseudonym key and hashes identifiers with it.

A direct identifier (e-mail, phone, social handle, ...) leaves schema ``pii`` only as a keyed hash: hex
HMAC-SHA-256 of its normalised form under a secret key. Anyone with a mailing list can recompute a bare hash
(md5 of an address); nobody without the key can recompute these.

The key, in order: ``JW_PSEUDONYM_KEY`` (the secret itself), the file named by ``JW_PSEUDONYM_KEY_FILE``, or
``pseudonym.key`` next to the warehouse file (outside the warehouse), generated once with 32 random bytes. The
same key keys person ids (``int_identity__components``), the DuckDB function ``jw_keyed_hash`` dbt models call
(``ingestion.dbt_pseudonym``), the suppression list of erased people. It is never written into SQL, compiled
files, logs or the warehouse.

The normalisers equal the dbt macros in ``dbt_project/macros/normalize.sql`` (DuckDB's ``trim`` strips the
Unicode space separators, category Zs, and nothing else), so Python and SQL hash the same value the same way.
"""

from __future__ import annotations

import functools
import hmac
import os
import re
import secrets
import unicodedata
from hashlib import sha256
from pathlib import Path

KEY_ENV = "JW_PSEUDONYM_KEY"
KEY_FILE_ENV = "JW_PSEUDONYM_KEY_FILE"
KEY_FILE_NAME = "pseudonym.key"
MIN_KEY_LENGTH = 32  # characters


def key_path(warehouse: str | Path | None = None) -> Path:
    """The key file: ``$JW_PSEUDONYM_KEY_FILE``, else ``pseudonym.key`` next to ``warehouse`` (default: the configured one)."""
    explicit = os.environ.get(KEY_FILE_ENV)
    if explicit:
        return Path(explicit)
    if warehouse is None:
        from ingestion import config

        warehouse = config.warehouse_path()
    if str(warehouse) in ("", ":memory:") or str(warehouse).startswith(":memory:"):
        raise RuntimeError(f"an in-memory warehouse needs {KEY_ENV} or {KEY_FILE_ENV}")
    return Path(warehouse).resolve().parent / KEY_FILE_NAME


def key(warehouse: str | Path | None = None) -> bytes:
    """The pseudonym key (bytes of its text). ``warehouse`` locates ``pseudonym.key`` when no variable names the key."""
    explicit = os.environ.get(KEY_ENV)
    if explicit:
        text = explicit.strip()
        where = KEY_ENV
    else:
        path = key_path(warehouse)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process made it first
                pass
            else:
                with os.fdopen(fd, "w") as f:
                    f.write(secrets.token_hex(32) + "\n")
        text = path.read_text().strip()
        where = str(path)
    if len(text) < MIN_KEY_LENGTH:
        raise RuntimeError(f"the pseudonym key in {where} is too short ({MIN_KEY_LENGTH} characters at least)")
    return text.encode("utf-8")


_configured_key = key  # keyed_hash's parameter `key` hides the function


def keyed_hash(value: str | None, key: bytes | None = None) -> str | None:
    """Hex HMAC-SHA-256 of an already normalised ``value`` under ``key`` (default: ``key()``); None stays None."""
    if value is None:
        return None
    if key is None:
        key = _configured_key()
    return hmac.new(key, value.encode("utf-8"), sha256).hexdigest()


_NOT_PHONE = re.compile(r"[^0-9+]")


@functools.cache
def _spaces() -> str:
    """DuckDB's trim(): the Unicode space separators (category Zs), not tabs or line breaks. Found on first use, not
    at import: scanning every code point costs half a second, paid by each process that loads the definitions."""
    return "".join(chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Zs")


def _trim(value: str) -> str:
    return value.strip(_spaces())


def _lower(value: str) -> str:
    """DuckDB's lower(): each character by its simple lowercase mapping. Python's str.lower maps whole strings,
    with the full mappings (U+0130 to two characters) and a final sigma in context."""
    return "".join(_lower_char(c) for c in value) if not value.isascii() else value.lower()


def _lower_char(c: str) -> str:
    lowered = c.lower()
    return lowered if len(lowered) == 1 else _SIMPLE_LOWER.get(c, c)


_SIMPLE_LOWER = {"\u0130": "i"}  # the only character whose full lowercase mapping is longer (SpecialCasing.txt)


def _nullif_empty(value: str) -> str | None:
    return value or None


def normalize_email(value: str | None) -> str | None:
    """``nullif(lower(trim(value)), '')``."""
    return None if value is None else _nullif_empty(_lower(_trim(value)))


def normalize_handle(value: str | None) -> str | None:
    """``nullif(lower(ltrim(trim(value), '@')), '')``."""
    return None if value is None else _nullif_empty(_lower(_trim(value).lstrip("@")))


def normalize_phone(value: str | None) -> str | None:
    """``nullif(regexp_replace(trim(value), '[^0-9+]', '', 'g'), '')``."""
    return None if value is None else _nullif_empty(_NOT_PHONE.sub("", _trim(value)))


NORMALIZERS = {"email": normalize_email, "phone": normalize_phone, "handle": normalize_handle}


def hash_identifier(identifier_type: str, value: str | None, key: bytes | None = None) -> str | None:
    """The keyed hash of ``value`` normalised as an identifier of ``identifier_type`` (email, phone, handle)."""
    return keyed_hash(NORMALIZERS[identifier_type](value), key)
