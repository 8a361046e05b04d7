"""IoT (wearables, connected cars): newline-delimited JSON dropped in a folder, read with dlt's filesystem source.

Opt-in only, enforced here, before anything lands: readings of devices whose owner has not opted in are
never loaded, and the registry row of such a device is reduced to its id and ``opted_in = false`` (no
owner e-mail). Lines that are not valid readings go to ``readings_quarantine`` with the file, the line
number and the reason, never the line itself.
"""

from __future__ import annotations

import json
from typing import Iterator

import dlt
from dlt.sources.filesystem import FileItemDict, filesystem

READING_FIELDS = ("reading_id", "device_id", "metric", "value", "recorded_at")
QUARANTINE_HINTS = dlt.mark.make_hints(
    table_name="readings_quarantine", primary_key=["file_name", "line_number"], write_disposition="merge"
)
REGISTRY_GLOB = "devices/*.ndjson"
READINGS_GLOB = "readings/*.ndjson"


def _registry(bucket_url: str) -> Iterator[dict]:
    for item in filesystem(bucket_url=bucket_url, file_glob=REGISTRY_GLOB):
        with item.open(mode="rt") as lines:
            for line in lines:
                if line.strip():
                    yield json.loads(line)


def _parse_reading(line: str) -> tuple[dict | None, str | None]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        return None, "not valid JSON"
    if not isinstance(row, dict):
        return None, "not a JSON object"
    missing = [f for f in READING_FIELDS if row.get(f) is None]
    if missing:
        return None, f"missing {', '.join(missing)}"
    return row, None


@dlt.source(name="iot")
def iot_source(bucket_url: str = dlt.config.value):
    @dlt.resource(name="devices", primary_key="device_id", write_disposition="merge", file_format="parquet")
    def devices(updated_at=dlt.sources.incremental("updated_at")) -> Iterator[dict]:
        # A consent change bumps the registry row's updated_at, so opt-ins and opt-outs are picked up.
        for device in _registry(bucket_url):
            if device.get("opted_in") is True:
                yield device
            else:
                yield {"device_id": device["device_id"], "opted_in": False, "updated_at": device.get("updated_at")}

    @dlt.transformer(name="readings", primary_key="reading_id", write_disposition="merge", file_format="parquet")
    def readings(files: list[FileItemDict]) -> Iterator[dict]:
        consented = {d["device_id"] for d in _registry(bucket_url) if d.get("opted_in") is True}
        for item in files:
            with item.open(mode="rt") as lines:
                for number, line in enumerate(lines, start=1):
                    if not line.strip():
                        continue
                    row, reason = _parse_reading(line)
                    if row is None:
                        yield dlt.mark.with_hints(
                            {"file_name": item["file_name"], "line_number": number, "reason": reason},
                            QUARANTINE_HINTS,
                            create_table_variant=True,
                        )
                    elif row["device_id"] in consented:
                        yield {f: row[f] for f in READING_FIELDS}

    new_files = filesystem(
        bucket_url=bucket_url,
        file_glob=READINGS_GLOB,
        incremental=dlt.sources.incremental("modification_date"),
    )
    return devices, new_files | readings
