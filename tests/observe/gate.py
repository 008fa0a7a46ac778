"""A loopback pass-through proxy that holds chat requests until the test opens it.

The live dashboard test needs Prometheus to scrape the run *before* any request finishes
(so every counter's rise falls between two scrapes, and `rate()` sees it) and *while*
requests are in flight. Instead of hoping the scrape clock and the run line up, the test
puts this proxy between postgen and a real simulator: chat requests wait here (dispatched,
so in flight) until Prometheus has scraped that state, then everything passes unchanged.
`GET /v1/models` (postgen's preflight) is never held.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOLD_LIMIT_S = 60.0  # hang guard: a request is never held longer than this
UPSTREAM_TIMEOUT_S = 60.0
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"}


class Gate:
    """Counts held requests; `open()` lets them (and every later one) through."""

    def __init__(self) -> None:
        self._open = threading.Event()
        self._lock = threading.Lock()
        self.held = 0

    def open(self) -> None:
        self._open.set()

    def wait(self) -> None:
        with self._lock:
            self.held += 1
        self._open.wait(HOLD_LIMIT_S)


def _handler(upstream: str, gate: Gate) -> type[BaseHTTPRequestHandler]:
    class Relay(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._relay(None)

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            if self.path.endswith("/chat/completions"):
                gate.wait()
            self._relay(body)

        def _relay(self, body: bytes | None) -> None:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            request = urllib.request.Request(
                upstream + self.path, data=body, headers=headers, method=self.command
            )
            try:
                with urllib.request.urlopen(request, timeout=UPSTREAM_TIMEOUT_S) as resp:
                    self._answer(resp.status, resp.headers.items(), resp.read())
            except urllib.error.HTTPError as err:  # 4xx/5xx: pass the simulator's answer on
                self._answer(err.code, err.headers.items(), err.read())

        def _answer(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
            self.send_response(status)
            for key, value in headers:
                if key.lower() not in HOP_BY_HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep the test output clean

    return Relay


@contextmanager
def gated_proxy(upstream_root: str) -> Iterator[tuple[str, Gate]]:
    """Yields (the proxy's `/v1` base URL, its gate); the gate is opened on exit too."""
    gate = Gate()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(upstream_root, gate))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="gate-proxy", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1", gate
    finally:
        gate.open()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
