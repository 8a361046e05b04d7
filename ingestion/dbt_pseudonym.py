"""dbt-duckdb plugin: the DuckDB function ``jw_keyed_hash(varchar) -> varchar`` on every dbt connection.

It calls ``ingestion.pseudonym.keyed_hash`` with the pseudonym key read when dbt opens the connection (the
environment, or ``pseudonym.key`` next to the profile's warehouse), so the key never appears in SQL, compiled
files or logs. Models call it through the macro ``keyed_hash(expr)`` (``dbt_project/macros/pseudonym.sql``) on
already normalised values. Registered in ``dbt_project/profiles.yml`` under ``plugins:``.
"""

from __future__ import annotations

from dbt.adapters.duckdb.plugins import BasePlugin

from ingestion import pseudonym

FUNCTION_NAME = "jw_keyed_hash"


def register(conn, warehouse=None, secret: bytes | None = None) -> None:
    """Registers ``jw_keyed_hash`` on a DuckDB connection (any reader of the warehouse that must hash as dbt does),
    keyed with ``secret``, else the key of ``warehouse`` (default: the configured one)."""
    from duckdb.sqltypes import VARCHAR

    secret = secret if secret is not None else pseudonym.key(warehouse)

    def jw_keyed_hash(value: str | None) -> str | None:
        return pseudonym.keyed_hash(value, secret)

    conn.create_function(FUNCTION_NAME, jw_keyed_hash, [VARCHAR], VARCHAR)  # NULL in, NULL out


class Plugin(BasePlugin):
    def configure_connection(self, conn) -> None:
        path = getattr(self.creds, "path", None)
        register(conn, path if path and not str(path).startswith(":memory:") else None)
