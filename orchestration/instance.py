"""The Dagster instance the demo and the UI share: ``$DAGSTER_HOME`` (default ``$JW_DATA_DIR/dagster_home``).

``python -m orchestration.instance`` writes its ``dagster.yaml`` if there is none: every pool, and so the
warehouse writers' pool, runs one step at a time.
"""

from __future__ import annotations

import os
from pathlib import Path

from ingestion.config import dagster_home

DAGSTER_YAML = """\
# Written by orchestration/instance.py. DuckDB allows one writer per file: pools run one step at a time.
concurrency:
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""


def ensure_instance_home() -> Path:
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


if __name__ == "__main__":
    print(ensure_instance_home())
