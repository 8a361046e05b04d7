"""The demo world's HTTP source systems: one server, each system mounted under its own prefix.

- ``/shop/...``: the shop (Shopify Admin REST protocol), :mod:`ingestion.demo_world.apis.shop`;
- ``/esp/...``: the e-mail service provider (Klaviyo-style JSON:API), :mod:`ingestion.demo_world.apis.esp`;
- ``/social/...``: social media (Meta Graph API style), :mod:`ingestion.demo_world.apis.social`.

Each system is an *app*: an object with ``handle(request) -> Response`` (GET, and POST with its body for the
ESP's send API) built from the API snapshots folder
(``<api root>/<system>/``). This module owns what all of them share: routing, snapshots re-read when their
file changes, access tokens, a leaky-bucket rate limit, and a fault switch (``faults`` = the share of requests
that get a 429, a 500 or 503, a slow answer, a truncated body or a reset connection), so sources can be
tested against the failures real systems have.

No request is logged: query strings and bodies may carry customer data.
"""

from __future__ import annotations

import importlib
import json
import random
import socket
import struct
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol
from urllib.parse import parse_qs, urlparse

import orjson

SYSTEMS = ("shop", "esp", "social")
FAULT_KINDS = ("429", "500", "503", "slow", "truncated", "reset")
SLOW_SECONDS = 1.5

# Demo access tokens: what the demo servers accept unless told otherwise, and what the sources send when no
# token is configured for them. Real systems get theirs from dlt secrets or the environment.
DEMO_TOKENS = {"shop": "demo-shop-token", "esp": "demo-esp-key", "social": "demo-social-token"}


@dataclass
class Request:
    method: str
    path: str  # below the system's prefix, e.g. "/admin/api/2024-07/customers.json"
    query: dict[str, str]  # last value of each parameter
    headers: dict[str, str]  # lower-case names
    base_url: str  # scheme://host:port/<system>, for absolute links in responses
    body: bytes = b""  # the request body (POST)


@dataclass
class Response:
    status: int
    body: Any = None  # JSON-serialisable, or bytes
    headers: dict[str, str] = field(default_factory=dict)

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body, separators=(",", ":"), default=str).encode()


def error(status: int, message: str, **headers: str) -> Response:
    return Response(status, {"errors": message}, dict(headers))


class App(Protocol):
    def handle(self, request: Request) -> Response: ...


class Snapshots:
    """The rows of ``<root>/<name>.json``, re-read when the file changes, sorted by ``sort_key``."""

    def __init__(self, root: Path):
        self.root = root
        self._cache: dict[Path, tuple[int, list[dict]]] = {}
        self._lock = threading.Lock()

    def get(self, name: str, sort_key: Callable[[dict], Any] | None = None) -> list[dict] | None:
        if not name.replace("_", "").isalnum():
            return None
        path = self.root / f"{name}.json"
        if not path.is_file():
            return None
        mtime = path.stat().st_mtime_ns
        with self._lock:
            cached = self._cache.get(path)
            if cached is None or cached[0] != mtime:
                rows = orjson.loads(path.read_bytes())
                if sort_key:
                    rows.sort(key=sort_key)
                cached = (mtime, rows)
                self._cache[path] = cached
            return cached[1]


class LeakyBucket:
    """Shopify's REST limit: a bucket of ``capacity`` requests that leaks ``leak_rate`` per second."""

    def __init__(self, capacity: int, leak_rate: float):
        self.capacity, self.leak_rate = capacity, leak_rate
        self._level, self._at = 0.0, time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> tuple[bool, int]:
        """(allowed, level after): one request into the bucket, or not when it is full."""
        with self._lock:
            now = time.monotonic()
            self._level = max(0.0, self._level - (now - self._at) * self.leak_rate)
            self._at = now
            if self._level + 1 > self.capacity:
                return False, int(self._level)
            self._level += 1
            return True, int(self._level)


class Faults:
    """Decides, per request, whether and how it fails (deterministic for a seed)."""

    def __init__(self, rate: float = 0.0, seed: int | None = 0, kinds: tuple[str, ...] = FAULT_KINDS):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate must be between 0 and 1, got {rate}")
        unknown = set(kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
        self.rate, self.kinds = rate, kinds
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.injected: dict[str, int] = {kind: 0 for kind in kinds}

    def draw(self) -> str | None:
        if not self.rate:
            return None
        with self._lock:
            if self._rng.random() >= self.rate:
                return None
            kind = self._rng.choice(self.kinds)
            self.injected[kind] += 1
            return kind


def load_app(system: str, api_root: Path, **options: Any) -> App:
    """The app of ``system`` (``ingestion.demo_world.apis.<system>.App``) over ``<api_root>/<system>``."""
    module = importlib.import_module(f"ingestion.demo_world.apis.{system}")
    return module.App(Path(api_root) / system, **options.get(system, {}))


def _handler(apps: dict[str, App], faults: Faults):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed-ACK stall per request

        def log_message(self, *args) -> None:  # no request logs: query strings may carry customer data
            pass

        def _send(self, response: Response, truncate: bool = False) -> None:
            payload = response.payload()
            self.send_response(response.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if truncate:
                self.wfile.write(payload[: len(payload) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(payload)

        def _reset(self) -> None:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()

        def _dispatch(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""  # read first: a fault answers a whole request
            url = urlparse(self.path)
            system, _, rest = url.path.lstrip("/").partition("/")
            app = apps.get(system)
            if app is None:
                return self._send(error(404, f"no system at /{system}"))
            fault = faults.draw()
            if fault == "reset":
                return self._reset()
            if fault in ("429", "500", "503"):
                headers = {"Retry-After": "1"} if fault == "429" else {}
                return self._send(error(int(fault), "injected fault", **headers))
            if fault == "slow":
                time.sleep(SLOW_SECONDS)
            host = self.headers.get("Host") or f"{self.server.server_address[0]}:{self.server.server_address[1]}"
            request = Request(
                method=method,
                path="/" + rest,
                query={k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()},
                headers={k.lower(): v for k, v in self.headers.items()},
                base_url=f"http://{host}/{system}",
                body=body,
            )
            try:
                response = app.handle(request)
            except Exception as exc:  # a bug in a demo app: answer 500 without echoing the request
                response = error(500, f"internal error: {type(exc).__name__}")
            self._send(response, truncate=fault == "truncated")

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:  # the ESP's send API (``/esp/api/messages/``); the other apps answer 405
            self._dispatch("POST")

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextmanager
def serve(
    api_root: Path,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    faults: float | Faults = 0.0,
    systems: tuple[str, ...] = SYSTEMS,
    options: dict[str, dict] | None = None,
) -> Iterator[str]:
    """Serve the demo systems below ``api_root`` for the duration of the block; yields the base URL.

    ``faults``: a rate (0..1) or a :class:`Faults`; ``options``: per-system keyword arguments for its app
    (tokens, rate limits, page sizes).
    """
    apps = {system: load_app(system, api_root, **(options or {})) for system in systems}
    fault_switch = faults if isinstance(faults, Faults) else Faults(float(faults))
    server = _Server((host, port), _handler(apps, fault_switch))
    thread = threading.Thread(target=server.serve_forever, name="demo-apis", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
