"""A resource that says where the six source systems are (real ones from the environment, else the demo's)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import dagster as dg

from ingestion.pipelines import Endpoints, source_endpoints


class SourceSystemsResource(dg.ConfigurableResource):
    """``source_systems_dir`` defaults to ``$JW_DATA_DIR/source_systems``; JW_SHOP_API_URL (etc.),
    JW_LOYALTY_DB_URL, JW_IOT_BUCKET_URL and JW_HISTORY_DIR point at real systems instead."""

    source_systems_dir: Optional[str] = None

    @contextmanager
    def endpoints(self) -> Iterator[Endpoints]:
        with source_endpoints(Path(self.source_systems_dir) if self.source_systems_dir else None) as endpoints:
            yield endpoints
