"""A small local stand-in for the shop, ESP and social HTTP APIs, serving the demo world's snapshots.

Protocol (the same for every collection, ``GET /<system>/<collection>``):

- ``updated_since`` (ISO-8601, optional): only records with ``updated_at >= updated_since``;
- ``limit`` (1..1000, default 250) and ``cursor`` (opaque, from the previous page);
- response ``{"data": [...], "next_cursor": "..." | null}``, records ordered by ``(updated_at, id)``.

Bad parameters get a 400 with a JSON ``error``; unknown paths a 404. Snapshots are re-read when their
file changes, so tests can append records and watch the incremental cursor pick them up.
"""

from __future__ import annotations

import base64
import json
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator
from urllib.parse import parse_qs, urlparse

MAX_LIMIT = 1000


class _Snapshots:
    def __init__(self, root: Path):
        self.root = root
        self._cache: dict[Path, tuple[float, list[dict]]] = {}
        self._lock = threading.Lock()

    def get(self, system: str, collection: str) -> list[dict] | None:
        if not (system.isidentifier() and collection.isidentifier()):
            return None
        path = self.root / system / f"{collection}.json"
        if not path.is_file():
            return None
        mtime = path.stat().st_mtime_ns
        with self._lock:
            cached = self._cache.get(path)
            if cached is None or cached[0] != mtime:
                rows = json.loads(path.read_text())
                rows.sort(key=lambda r: (r["updated_at"], str(r["id"])))
                cached = (mtime, rows)
                self._cache[path] = cached
            return cached[1]


def _encode_cursor(row: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps([row["updated_at"], str(row["id"])]).encode()).decode()


def _decode_cursor(value: str) -> tuple[str, str]:
    updated_at, row_id = json.loads(base64.urlsafe_b64decode(value.encode()))
    return str(updated_at), str(row_id)


def _parse_iso(value: str) -> str:
    """Validate and canonicalise to the snapshots' ``YYYY-MM-DDTHH:MM:SSZ`` form (UTC)."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("updated_since needs a time zone")
    return parsed.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def page(rows: list[dict], updated_since: str | None, cursor: str | None, limit: int) -> dict:
    """One page of ``rows`` (already ordered by ``(updated_at, id)``)."""
    if cursor:
        after = _decode_cursor(cursor)
        selected = (r for r in rows if (r["updated_at"], str(r["id"])) > after)
    elif updated_since:
        selected = (r for r in rows if r["updated_at"] >= updated_since)
    else:
        selected = iter(rows)
    data = []
    for row in selected:
        data.append(row)
        if len(data) == limit:
            break
    more = len(data) == limit and (data[-1]["updated_at"], str(data[-1]["id"])) < (rows[-1]["updated_at"], str(rows[-1]["id"]))
    return {"data": data, "next_cursor": _encode_cursor(data[-1]) if more else None}


def _handler(snapshots: _Snapshots):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # no request logs: query strings may carry customer data
            pass

        def _reply(self, status: int, body: dict) -> None:
            payload = json.dumps(body, separators=(",", ":")).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            parts = [p for p in url.path.split("/") if p]
            rows = snapshots.get(*parts) if len(parts) == 2 else None
            if rows is None:
                return self._reply(404, {"error": f"no collection at {url.path}"})
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            try:
                limit = int(query.get("limit", 250))
                if not 1 <= limit <= MAX_LIMIT:
                    raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
                since = _parse_iso(query["updated_since"]) if query.get("updated_since") else None
                cursor = query.get("cursor")
                if cursor:
                    _decode_cursor(cursor)
            except (ValueError, TypeError, json.JSONDecodeError) as exc:
                return self._reply(400, {"error": f"bad request: {exc}"})
            self._reply(200, page(rows, since, cursor, limit) if rows else {"data": [], "next_cursor": None})

    return Handler


@contextmanager
def serve(api_root: Path, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``api_root`` over HTTP for the duration of the block; yields the base URL."""
    server = ThreadingHTTPServer((host, port), _handler(_Snapshots(Path(api_root))))
    thread = threading.Thread(target=server.serve_forever, name="demo-api", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
