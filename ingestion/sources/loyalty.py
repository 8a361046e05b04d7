"""The loyalty programme and point-of-sale database, read with dlt's ``sql_database`` tables.

Any SQLAlchemy URL works: the demo uses a SQLite file, production a PostgreSQL connection string.
Rows are read as Arrow tables (``backend="pyarrow"``) and merged on their primary keys, incrementally on
``updated_at``.
"""

from __future__ import annotations

import dlt
from dlt.sources.sql_database import sql_table

PRIMARY_KEYS = {
    "members": "member_id",
    "cards": "card_number",
    "receipts": "receipt_id",
    "points": "points_txn_id",
}


@dlt.source(name="loyalty")
def loyalty_source(credentials: str = dlt.secrets.value, schema: str | None = None, chunk_size: int = 50_000):
    for table, key in PRIMARY_KEYS.items():
        yield sql_table(
            credentials=credentials,
            table=table,
            schema=schema,
            backend="pyarrow",
            chunk_size=chunk_size,
            incremental=dlt.sources.incremental("updated_at"),
            primary_key=key,
            write_disposition="merge",
            reflection_level="full",
            defer_table_reflect=True,  # no connection until the table is read (never at import)
        )
