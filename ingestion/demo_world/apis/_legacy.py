"""The skeleton's generic protocol (``?updated_since=&cursor=&limit=``, ``{"data", "next_cursor"}``).

Temporary: each system's module replaces it with the protocol of the real system it stands for.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from pathlib import Path

from ..api_server import Request, Response, Snapshots, error

MAX_LIMIT = 1000


def _key(row: dict) -> tuple[str, str]:
    return row["updated_at"], str(row["id"])


def _encode_cursor(row: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(_key(row))).encode()).decode()


def _decode_cursor(value: str) -> tuple[str, str]:
    updated_at, row_id = json.loads(base64.urlsafe_b64decode(value.encode()))
    return str(updated_at), str(row_id)


def _parse_iso(value: str) -> str:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("updated_since needs a time zone")
    return parsed.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class LegacyApp:
    def __init__(self, root: Path, **_: object):
        self.snapshots = Snapshots(root)

    def handle(self, request: Request) -> Response:
        rows = self.snapshots.get(request.path.strip("/"), sort_key=_key)
        if rows is None:
            return error(404, f"no collection at {request.path}")
        try:
            limit = int(request.query.get("limit", 250))
            if not 1 <= limit <= MAX_LIMIT:
                raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
            since = _parse_iso(request.query["updated_since"]) if request.query.get("updated_since") else None
            cursor = request.query.get("cursor")
            after = _decode_cursor(cursor) if cursor else None
        except (ValueError, TypeError, json.JSONDecodeError) as exc:
            return error(400, f"bad request: {exc}")
        if after:
            selected = (r for r in rows if _key(r) > after)
        elif since:
            selected = (r for r in rows if r["updated_at"] >= since)
        else:
            selected = iter(rows)
        data = []
        for row in selected:
            data.append(row)
            if len(data) == limit:
                break
        more = bool(data) and len(data) == limit and _key(data[-1]) < _key(rows[-1])
        return Response(200, {"data": data, "next_cursor": _encode_cursor(data[-1]) if more else None})
