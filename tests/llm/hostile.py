"""A small hostile HTTP server for the client's bounds, on a free loopback port.

Raw asyncio streams rather than a framework: the point is to misbehave in ways a framework
would not let us (an endless chunked body, a body that never comes, a stream that stops
mid-event). The first path segment picks the behaviour: `http://127.0.0.1:PORT/<mode>/v1`.
Everything it sees is counted, so tests assert by counting, not by the clock.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Hostile", "hostile_server"]

CHUNK = b"x" * 1024
BIG_REPLY = 10 * 1024 * 1024
LLAMACPP_REFUSAL = (
    "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', "
    "'type'), 'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema'}"
    '\n\n  File "app.py", line 376, in create_chat_completion\n    POST /v1/chat/completions'
)


@dataclass
class Hostile:
    """What the server saw: requests per mode, bodies, bytes sent, connections the client closed."""

    port: int = 0
    requests: Counter[str] = field(default_factory=Counter)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    bytes_sent: Counter[str] = field(default_factory=Counter)
    client_closed: Counter[str] = field(default_factory=Counter)
    tokens_after_close: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.port}/{mode}/v1"


Writer = asyncio.StreamWriter


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _event(obj: object) -> bytes:
    return _chunk(
        b"data: " + (obj if isinstance(obj, bytes) else json.dumps(obj).encode()) + b"\n\n"
    )


def _delta(
    content: str | None, finish: str | None = None, model: str = "/models/tiny.gguf"
) -> dict[str, Any]:
    delta = {} if content is None else {"content": content}
    return {
        "id": "chatcmpl-1",
        "model": model,
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


async def _head(w: Writer, status: int, ctype: str, length: int | None = None) -> None:
    reason = {200: "OK", 400: "Bad Request", 500: "Internal Server Error"}[status]
    size = f"content-length: {length}" if length is not None else "transfer-encoding: chunked"
    w.write(
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: {ctype}\r\n{size}\r\n"
        "connection: close\r\n\r\n".encode()
    )
    await w.drain()


async def _json(w: Writer, status: int, doc: object) -> None:
    body = json.dumps(doc).encode()
    await _head(w, status, "application/json", len(body))
    w.write(body)
    await w.drain()


def _ok(text: str, finish: str = "stop", model: str = "/models/tiny.gguf") -> dict[str, Any]:
    return {
        "model": model,
        "choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3},
    }


async def _refused_stream_options(w: Writer, body: dict[str, Any]) -> bool:
    """Azure's 400 for `stream_options`, if the body has them; whether it was sent."""
    if "stream_options" not in body:
        return False
    message = "Unrecognized request argument supplied: stream_options"
    await _json(w, 400, {"error": {"message": message, "type": "invalid_request_error"}})
    return True


class _Modes:
    def __init__(self, seen: Hostile) -> None:
        self.seen = seen

    def sent(self, mode: str, n: int) -> None:
        with self.seen.lock:
            self.seen.bytes_sent[mode] += n

    async def endless(self, w: Writer, r: asyncio.StreamReader, body: dict[str, Any]) -> None:
        await _head(w, 200, "application/json")
        while True:  # until the client hangs up
            w.write(_chunk(CHUNK))
            await w.drain()
            self.sent("endless", len(CHUNK))

    async def drip(self, w: Writer, r: asyncio.StreamReader, body: dict[str, Any]) -> None:
        """A byte every 20 ms, forever: each read is quick, the body never ends."""
        await _head(w, 200, "application/json")
        while True:
            w.write(_chunk(b" "))
            await w.drain()
            self.sent("drip", 1)
            await asyncio.sleep(0.02)

    async def badgzip(self, w: Writer, r: asyncio.StreamReader, body: dict[str, Any]) -> None:
        """A body that says gzip and is not."""
        data = b"this is not gzip"
        w.write(
            f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\n"
            f"content-length: {len(data)}\r\nconnection: close\r\n\r\n".encode()
            + data
        )
        await w.drain()

    async def deepjson(self, w: Writer, r: asyncio.StreamReader, body: dict[str, Any]) -> None:
        """A model list nested deeper than any JSON parser recurses."""
        data = b"[" * 100_000 + b"]" * 100_000
        await _head(w, 200, "application/json", len(data))
        w.write(data)
        await w.drain()

    async def big(self, w: Writer, r: asyncio.StreamReader, body: dict[str, Any]) -> None:
        await _head(w, 200, "application/json", BIG_REPLY)
        for _ in range(BIG_REPLY // len(CHUNK)):
            w.write(CHUNK)
            await w.drain()
            self.sent("big", len(CHUNK))

    async def stall(self, w: Writer, r: asyncio.StreamReader, body: dict[str, Any]) -> None:
        await _head(w, 200, "application/json")
        await r.read()  # nothing is ever sent; returns when the client closes

    async def stallstream(self, w: Writer, r: asyncio.StreamReader, body: dict[str, Any]) -> None:
        await _head(w, 200, "text/event-stream")
        w.write(_event(_delta("Hel")))
        await w.drain()
        await r.read()

    async def stream(self, w: Writer, r: asyncio.StreamReader, body: dict[str, Any]) -> None:
        """A well-behaved llama-cpp-python stream; `length` when max_tokens is below 4."""
        await _head(w, 200, "text/event-stream")
        w.write(b"3\r\n: \n\r\n")  # a comment, as sse-starlette's pings are
        words = ["Hello", " there", ",", " friend"]
        limit = int(body.get("max_tokens") or 99)
        for word in words[:limit]:
            w.write(_event(_delta(word)))
        w.write(_event(_delta(None, "length" if limit < len(words) else "stop")))
        w.write(_event(b"[DONE]") + b"0\r\n\r\n")
        await w.drain()

    async def nostreamoptions(
        self, w: Writer, r: asyncio.StreamReader, body: dict[str, Any]
    ) -> None:
        """Azure's answer to an argument it does not know; streams without it."""
        if not await _refused_stream_options(w, body):
            await self.stream(w, r, body)

    async def plainonly(self, w: Writer, r: asyncio.StreamReader, body: dict[str, Any]) -> None:
        """Refuses stream_options by name, then streaming: whole replies only."""
        if not await _refused_stream_options(w, body):
            await self.nostream(w, r, body)

    async def nostream(self, w: Writer, r: asyncio.StreamReader, body: dict[str, Any]) -> None:
        """A gateway that serves whole replies only."""
        if body.get("stream"):
            message = "Streaming is not supported for this deployment"
            await _json(w, 400, {"error": {"message": message, "type": "invalid_request_error"}})
            return
        await self.ok(w, r, body)

    async def preempt(self, w: Writer, r: asyncio.StreamReader, body: dict[str, Any]) -> None:
        await _head(w, 200, "text/event-stream")
        w.write(_event(_delta("Hel")) + _event(b"[DONE]") + b"0\r\n\r\n")
        await w.drain()

    async def generate(self, w: Writer, r: asyncio.StreamReader, body: dict[str, Any]) -> None:
        """Streams a token every 20 ms for a long time; counts tokens it computes after the
        client left (as a server that does not notice a disconnect would)."""
        await _head(w, 200, "text/event-stream")
        gone = False
        for _ in range(2000):
            await asyncio.sleep(0.02)
            if gone:
                with self.seen.lock:
                    self.seen.tokens_after_close["generate"] += 1
                return  # this server notices at the next token, as llama-cpp-python does
            try:
                w.write(_event(_delta("tok ")))
                await w.drain()
            except ConnectionError:
                gone = True

    async def refuse_schema(self, w: Writer, r: asyncio.StreamReader, body: dict[str, Any]) -> None:
        """llama-cpp-python 0.3: json_schema is a 500 naming response_format; the rest works."""
        kind = (body.get("response_format") or {}).get("type")
        if kind == "json_schema":
            error = {"message": LLAMACPP_REFUSAL, "type": "internal_server_error", "code": None}
            await _json(w, 500, {"error": error})
            return
        await _json(w, 200, _ok('{"ok": true}'))

    async def refuse_all(self, w: Writer, r: asyncio.StreamReader, body: dict[str, Any]) -> None:
        if body.get("response_format"):
            error = {"message": "response_format is not supported", "type": "invalid_request_error"}
            await _json(w, 400, {"error": error})
            return
        await _json(w, 200, _ok('{"ok": true}'))

    async def context(self, w: Writer, r: asyncio.StreamReader, body: dict[str, Any]) -> None:
        message = (
            "This model's maximum context length is 2048 tokens. However, you requested 5100 "
            "tokens (5000 in the messages, 100 in the completion). Please reduce the length."
        )
        error = {
            "message": message,
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
        await _json(w, 400, {"error": error})

    async def echo_key(self, w: Writer, r: asyncio.StreamReader, body: dict[str, Any]) -> None:
        """A long error that quotes the key whole and cut, with newlines and an end marker."""
        key = "sk-test-0123456789abcdef"
        text = f"bad key {key}\nalso {key[:10]}…\n" + "detail " * 300 + "END"
        await _json(w, 500, {"error": {"message": text, "type": "server_error"}})

    async def ok(self, w: Writer, r: asyncio.StreamReader, body: dict[str, Any]) -> None:
        await _json(w, 200, _ok("hello", finish=str(body.get("finish") or "stop")))


Handler = Callable[[Writer, asyncio.StreamReader, dict[str, Any]], Awaitable[None]]


async def _serve(seen: Hostile, modes: _Modes, r: asyncio.StreamReader, w: Writer) -> None:
    mode = "?"
    try:
        head = await r.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        path = lines[0].split(" ")[1]
        length = next(
            (int(x.split(":", 1)[1]) for x in lines if x.lower().startswith("content-length")), 0
        )
        body = json.loads(await r.readexactly(length)) if length else {}
        mode = path.strip("/").split("/")[0]
        with seen.lock:
            seen.requests[mode] += 1
            seen.bodies.append(body)
        handler: Handler = getattr(modes, mode)
        await handler(w, r, body)
    except (ConnectionError, asyncio.IncompleteReadError):
        with seen.lock:
            seen.client_closed[mode] += 1
        return
    finally:
        w.close()
    if r.at_eof():
        with seen.lock:
            seen.client_closed[mode] += 1


@contextmanager
def hostile_server() -> Iterator[Hostile]:
    """The server in a thread with its own loop; stopped when the block ends."""
    seen = Hostile()
    modes = _Modes(seen)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop: asyncio.Future[None] | None = None

    async def main() -> None:
        nonlocal stop
        server = await asyncio.start_server(lambda r, w: _serve(seen, modes, r, w), "127.0.0.1", 0)
        seen.port = server.sockets[0].getsockname()[1]
        stop = loop.create_future()
        ready.set()
        async with server:
            await stop

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield seen
    finally:
        assert stop is not None
        loop.call_soon_threadsafe(stop.set_result, None)
        thread.join(10)
        loop.close()
