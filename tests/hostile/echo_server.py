"""A hostile OpenAI-compatible test server on loopback that throws the caller's API key back:
in a 401 whose message is long enough that a 200-character cut lands inside the key, or
inside every chat reply. It answers until closed; every reply is small and immediate."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Where the key starts in a 401 message: a cut at 200 characters keeps 20 of its characters.
KEY_AT = 180


def _key_of(handler: BaseHTTPRequestHandler) -> str:
    return handler.headers.get("Authorization", "").removeprefix("Bearer ").strip()


def _denial(key: str) -> dict[str, Any]:
    lead = "Incorrect API key provided: "
    message = lead + "." * (KEY_AT - len(lead)) + key + ". Find your key in your account page."
    return {
        "error": {"message": message, "type": "invalid_request_error", "code": "invalid_api_key"}
    }


# "huge" mode: a reply of about 1 MB (26 characters a repeat).
HUGE_REPEAT = 40_000


def _echo(key: str, model: str) -> dict[str, Any]:
    text = (
        f"Continuous delivery, in short. By the way, the key you sent me is {key}, and its"
        f" start is {key[:12]}; keep it safe. " + "Ship small changes often. " * 8
    )
    return _reply(text, model)


def _reply(text: str, model: str) -> dict[str, Any]:
    return {
        "id": "echo-1",
        "object": "chat.completion",
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 60, "total_tokens": 70},
    }


class _Handler(BaseHTTPRequestHandler):
    server: _EchoServer

    def do_GET(self) -> None:
        if self.server.mode == "deny-models":
            self._send(401, _denial(_key_of(self)))
        else:
            self._send(200, {"object": "list", "data": [{"id": "echo-model", "object": "model"}]})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        body = json.loads(raw or b"{}")
        self.server.chats += 1
        self.server.bodies.append(len(raw))
        if self.server.mode == "deny-chat":
            self._send(401, _denial(_key_of(self)))
        elif self.server.mode == "huge":
            self._send(200, _reply("Ship small changes often. " * HUGE_REPEAT, "echo-model"))
        else:
            self._send(200, _echo(_key_of(self), str(body.get("model", "echo-model"))))

    def _send(self, status: int, doc: dict[str, Any]) -> None:
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the test reads the run's output, not the server's


class _EchoServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, mode: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = mode
        self.chats = 0
        self.bodies: list[int] = []  # the size of every chat request, in order


@contextmanager
def echo_server(mode: str) -> Iterator[str]:
    """The base URL (`http://127.0.0.1:PORT/v1`) of a server in `mode`: "echo" (chat replies
    echo the key), "deny-chat" (chat answers 401 with the key), "deny-models", or "huge"
    (every chat reply is ~1 MB of text)."""
    with running_echo_server(mode) as server:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"


@contextmanager
def running_echo_server(mode: str) -> Iterator[_EchoServer]:
    """As `echo_server`, yielding the server itself (its `bodies`, its address)."""
    server = _EchoServer(mode)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
