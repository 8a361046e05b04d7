"""One pattern for the three HTTP APIs: cursor pagination plus an ``updated_since`` incremental filter."""

from __future__ import annotations

from typing import Iterator, Sequence

import dlt
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator

EPOCH = "1970-01-01T00:00:00Z"


def api_client(base_url: str) -> RESTClient:
    return RESTClient(
        base_url=base_url.rstrip("/"),
        paginator=JSONResponseCursorPaginator(cursor_path="next_cursor", cursor_param="cursor"),
        data_selector="data",
    )


def api_collection(
    client: RESTClient,
    collection: str,
    *,
    primary_key: str | Sequence[str] = "id",
    page_size: int = 500,
    nested_max: int | None = None,
):
    """A merge resource over ``GET /<collection>``: pages are loaded as parquet, never ``insert_values``.

    The incremental cursor is ``updated_at``; the server filters with ``updated_since`` (inclusive), and dlt
    drops the boundary rows it already has by primary key, so a reload with no new data adds nothing.
    """

    @dlt.resource(
        name=collection,
        primary_key=primary_key,
        write_disposition="merge",
        file_format="parquet",
        max_table_nesting=nested_max,
    )
    def _collection(
        updated_at=dlt.sources.incremental("updated_at", initial_value=EPOCH),
    ) -> Iterator[list[dict]]:
        params = {"limit": page_size, "updated_since": updated_at.last_value or EPOCH}
        yield from client.paginate(collection, params=params)

    return _collection
