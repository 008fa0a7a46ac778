"""A minimal HTTP/1.1 server connection: keep-alive, Content-Length or chunked bodies, JSON
answers and chunked streams (server-sent events), and notice of a client that has left."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "HttpError",
    "Request",
    "Response",
    "StreamAborted",
    "StreamingResponse",
    "TrackedReader",
    "serve_connection",
]

MAX_BODY = 32 * 1024 * 1024
_REASONS = {
    100: "Continue",
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    499: "Client Closed Request",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    529: "Overloaded",
}


class TrackedReader(asyncio.StreamReader):
    """A stream reader whose `gone` event is set when the peer closes or resets.

    asyncio feeds EOF (or an exception) to the reader without anybody reading, so a handler
    busy generating can learn that its client left without consuming pipelined bytes.
    """

    def __init__(self, limit: int = 2**16) -> None:
        super().__init__(limit=limit)
        self.gone = asyncio.Event()

    def feed_eof(self) -> None:
        super().feed_eof()
        self.gone.set()

    def set_exception(self, exc: Exception) -> None:
        super().set_exception(exc)
        self.gone.set()


@dataclass(slots=True)
class Request:
    method: str
    path: str
    version: str
    headers: dict[str, str]
    body: bytes = b""
    gone: asyncio.Event = field(default_factory=asyncio.Event)  # set: the client has left

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection


@dataclass(slots=True)
class Response:
    status: int
    payload: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self, keep_alive: bool) -> bytes:
        """A JSON payload, or a `str` sent as text/plain (what a bare gateway answers)."""
        if isinstance(self.payload, str):
            body, kind = self.payload.encode(), "text/plain; charset=utf-8"
        else:
            body = b"" if self.payload is None else json.dumps(self.payload).encode()
            kind = "application/json"
        lines = _status_lines(self.status, keep_alive)
        if self.payload is not None:
            lines.append(f"content-type: {kind}")
        lines.append(f"content-length: {len(body)}")
        lines.extend(f"{name}: {value}" for name, value in self.headers.items())
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class StreamAborted(Exception):
    """Raised by a stream body to end the connection without the closing chunk (the way a
    server whose handler crashed after the headers were sent leaves its client)."""


class StreamBody:
    """What a `StreamingResponse` sends: iterate for the pieces, `aclose` always runs cleanup."""

    def __aiter__(self) -> AsyncIterator[bytes]:
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError


@dataclass(slots=True)
class StreamingResponse:
    """A chunked answer (e.g. `text/event-stream`); each piece is written as it comes."""

    status: int
    body: StreamBody
    content_type: str = "text/event-stream; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    def head(self, keep_alive: bool) -> bytes:
        lines = _status_lines(self.status, keep_alive)
        lines += [f"content-type: {self.content_type}", "transfer-encoding: chunked"]
        lines += ["cache-control: no-cache", "x-accel-buffering: no"]
        lines.extend(f"{name}: {value}" for name, value in self.headers.items())
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _status_lines(status: int, keep_alive: bool) -> list[str]:
    return [
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}",
        "server: postgen-sim",
        "connection: " + ("keep-alive" if keep_alive else "close"),
    ]


class HttpError(Exception):
    """A protocol error: answered with `status`, then the connection closes."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


Handler = Callable[[Request], Awaitable[Response | StreamingResponse]]


async def serve_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handler: Handler
) -> None:
    """Answer requests on one connection until the client closes it or asks to."""
    try:
        while True:
            try:
                request = await _read_request(reader, writer)
            except HttpError as exc:
                error = {"error": {"type": "invalid_request_error", "message": str(exc)}}
                writer.write(Response(exc.status, error).encode(keep_alive=False))
                await writer.drain()
                return
            if request is None:
                return
            if isinstance(reader, TrackedReader):
                request.gone = reader.gone
            response = await handler(request)
            if request.gone.is_set():
                await _discard(response)
                return  # nobody to answer; writing would only raise or warn
            if isinstance(response, StreamingResponse):
                if not await _stream(writer, response, request):
                    return
            else:
                writer.write(response.encode(request.keep_alive))
                await writer.drain()
            if not request.keep_alive:
                return
    except (ConnectionError, asyncio.IncompleteReadError):
        return
    finally:
        writer.close()


async def _stream(
    writer: asyncio.StreamWriter, response: StreamingResponse, request: Request
) -> bool:
    """Send a chunked response; False if the connection must close (aborted or client gone)."""
    try:
        writer.write(response.head(request.keep_alive))
        async for piece in response.body:
            if request.gone.is_set():
                return False
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
    except StreamAborted:
        return False
    finally:
        await response.body.aclose()
    if request.gone.is_set():
        return False
    writer.write(b"0\r\n\r\n")
    await writer.drain()
    return True


async def _discard(response: Response | StreamingResponse) -> None:
    if isinstance(response, StreamingResponse):
        await response.body.aclose()


async def _read_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise HttpError(400, "incomplete request head") from None
        return None
    except asyncio.LimitOverrunError:
        raise HttpError(431, "request head too large") from None
    method, path, version, headers = _parse_head(head)
    request = Request(method, path, version, headers)
    if headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    request.body = await _read_body(reader, headers)
    return request


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HttpError(400, f"bad request line {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise HttpError(400, f"bad header line {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    return parts[0].upper(), parts[1].split("?", 1)[0], parts[2], headers


async def _read_body(reader: asyncio.StreamReader, headers: Mapping[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return await _read_chunked(reader)
    length_text = headers.get("content-length")
    if length_text is None:
        return b""
    try:
        length = int(length_text)
    except ValueError:
        raise HttpError(400, "bad content-length") from None
    if length < 0 or length > MAX_BODY:
        raise HttpError(413, "body too large")
    return await reader.readexactly(length)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        line = await reader.readuntil(b"\r\n")
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise HttpError(400, "bad chunk size") from None
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass  # trailers are ignored
            return b"".join(chunks)
        total += size
        if total > MAX_BODY:
            raise HttpError(413, "body too large")
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)
