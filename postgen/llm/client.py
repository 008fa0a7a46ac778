"""An async OpenAI-compatible chat-completions client that classifies every outcome once.

Every reply is read under three bounds, so no server can hold an attempt or grow memory
without limit: waiting for the server to start answering, a stall bound (no byte for
`stall_s`), and a size bound (`max_reply_bytes`) counted while reading. With `stream=True`
the reply comes as server-sent events: the time to the first token is measured, and
cancelling the attempt closes the connection, which is how a server learns to stop
generating (llama-cpp-python checks for a disconnect after every token, not before).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from loguru import logger

from postgen.errors import (
    AuthError,
    BadRequest,
    ConfigError,
    ConnectionFailed,
    ContextTooLong,
    InvalidOutput,
    LLMError,
    ModelNotFound,
    Overloaded,
    QuotaExceeded,
    RateLimited,
    ReplyTooLarge,
    ServerError,
    Stalled,
    Timeout,
    UnsupportedFormat,
)
from postgen.llm.headers import retry_after_seconds, stated_wait
from postgen.llm.sse import EventParser, StreamReply
from postgen.llm.text import safe_message
from postgen.llm.types import ChatRequest, Completion, Usage
from scheduler import mark_first_token

__all__ = [
    "DEFAULT_QUEUE_TIMEOUT_S",
    "DEFAULT_STALL_S",
    "MODELS_MAX_BYTES",
    "PREFLIGHT_TIMEOUT_S",
    "STREAM_S_PER_TOKEN",
    "ChatClient",
    "api_key_from_env",
    "error_for_response",
    "names_response_format",
    "reply_bound",
    "safe_url",
    "streaming_reply_bound_s",
]

_POOLS = 8  # connection pools per client; requests go to the least busy
PREFLIGHT_TIMEOUT_S = 10.0  # the endpoint check must fail within seconds, not hang
MODELS_MAX_BYTES = 8 * 1024 * 1024  # the largest public model lists are about 1 MB
DEFAULT_STALL_S = 30.0  # no byte for this long, once a reply started: the attempt failed
DEFAULT_QUEUE_TIMEOUT_S = 600.0  # streaming: the longest wait for a server to start answering
REPLY_FLOOR_BYTES = 256 * 1024
# A streamed token costs a whole JSON chunk (id, model, created...): ~250-350 bytes on
# llama-cpp-python, whose chunks repeat the model's file path. 512 leaves room.
REPLY_BYTES_PER_TOKEN = 512
_ASSUMED_MAX_TOKENS = 4096  # when a request sets no max_tokens
ERROR_BODY_BYTES = 64 * 1024  # an error explains itself in far less
# Streaming: a reply may take 1 s per max_tokens (the slowest CPU model still makes a token a
# second) when that is longer than the attempt's timeout.
STREAM_S_PER_TOKEN = 1.0


def streaming_reply_bound_s(timeout_s: float, max_tokens: int | None) -> float:
    """The longest a streamed reply may take once the server answers (see `_reply_bound`)."""
    return max(timeout_s, STREAM_S_PER_TOKEN * (max_tokens or _ASSUMED_MAX_TOKENS))


def reply_bound(max_tokens: int | None, configured: int | None = None) -> int:
    """The most bytes one reply may have: `llm.max_reply_bytes`, else derived from max_tokens."""
    if configured:
        return configured
    return max(REPLY_FLOOR_BYTES, REPLY_BYTES_PER_TOKEN * (max_tokens or _ASSUMED_MAX_TOKENS))


def api_key_from_env(env_var: str | None, *, required: bool = True) -> str | None:
    """The API key from the named environment variable.

    A named but unset variable is an error when the endpoint needs a key (`required`); a local
    server that only may have one (vLLM's `--api-key`) gets a key only if the variable is set.
    """
    if not env_var:
        return None
    key = os.environ.get(env_var, "").strip()
    if not key and required:
        raise ConfigError("llm.api_key_env", f"environment variable {env_var} is not set")
    return key or None


def _first_token() -> None:
    """Tell the scheduler the first token arrived: time to first token is its cleanest queue
    signal, and it clocks fast start while slow calls are still generating."""
    mark_first_token()  # a no-op outside a scheduler lane's attempt


class ChatClient:
    """One endpoint. `complete` returns a Completion or raises an LLMError subclass."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        connect_timeout_s: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        stream: bool = False,
        stall_s: float = DEFAULT_STALL_S,
        queue_timeout_s: float = DEFAULT_QUEUE_TIMEOUT_S,
        max_reply_bytes: int | None = None,
        stall_key: str = "llm.stall_s",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.where = safe_url(self.base_url)  # what messages name: never a credential
        self.stream = stream
        self.stream_options = True  # ask for usage in the stream, until a server refuses it
        self.stall_s = stall_s
        self.queue_timeout_s = queue_timeout_s
        self.max_reply_bytes = max_reply_bytes
        self._stall_key = stall_key
        self._secret = api_key
        # identity: the size bound counts the bytes we hold, so nothing may inflate them.
        headers = {"content-type": "application/json", "accept-encoding": "identity"}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        # Waiting and reading are bounded here, per phase (see `_Exchange`).
        timeout = httpx.Timeout(None, connect=connect_timeout_s)
        tls = httpx.create_ssl_context()  # one for every pool: each load of the CA bundle is slow
        # httpcore's pool scans all its connections for every request, so one pool with
        # hundreds in flight costs O(n^2) CPU; a few smaller pools keep each scan short.
        self._pools = [
            httpx.AsyncClient(
                base_url=self.base_url,
                headers=headers,
                timeout=timeout,
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=512),
                transport=transport,
                verify=tls,
            )
            for _ in range(1 if transport is not None else _POOLS)
        ]
        self._busy = [0] * len(self._pools)
        self._http = self._pools[0]
        # Chat requests go straight to each pool's transport, routed once as the client would
        # route them (a proxy from the environment included): the client's per-request URL
        # merge, cookie jar and logging cost a fifth of our CPU per request at high rates,
        # and an API client has no cookies, redirects or auth flows to follow.
        self.chat_url = httpx.URL(self.base_url + "/chat/completions")
        self._routes = [pool._transport_for_url(self.chat_url) for pool in self._pools]
        self.chat_headers = httpx.Headers(self._http.headers)  # httpx's defaults and ours
        self.chat_extensions: dict[str, Any] = {"timeout": timeout.as_dict()}

    async def complete(self, request: ChatRequest) -> Completion:
        busy = self._busy
        pool = busy.index(min(busy))
        busy[pool] += 1
        try:
            return await _Exchange(self, self._routes[pool], request).run()
        except httpx.TimeoutException as exc:  # connecting took longer than connect_timeout_s
            raise Timeout(f"{self.where}: {type(exc).__name__} (llm.connect_timeout_s)") from None
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"cannot reach {self.where}: {_short(exc)}") from None
        finally:
            busy[pool] -= 1

    async def list_models(self, *, timeout_s: float = PREFLIGHT_TIMEOUT_S) -> list[str]:
        """The models the endpoint serves (also a cheap reachability and auth check).

        Bounded like a reply: the whole answer within `timeout_s` (a body dripped a byte at
        a time never trips httpx's per-read timeout) and at most `MODELS_MAX_BYTES`.
        """
        try:
            async with asyncio.timeout(timeout_s):
                status, headers, body = await self._get_models(timeout_s)
        except (httpx.TimeoutException, TimeoutError):
            raise Timeout(f"{self.where} did not answer within {timeout_s:g} s") from None
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"cannot reach {self.where}: {_short(exc)}") from None
        except httpx.HTTPError as exc:  # a body that does not decode (a bad gzip, say)
            raise ServerError(f"{self.where}: unreadable model list: {_short(exc)}") from None
        if status != 200:
            raise self.error(status, headers, body)
        try:
            data = (json.loads(body) or {}).get("data") or []
            return [str(m.get("id")) for m in data if isinstance(m, dict)]
        except (ValueError, AttributeError, TypeError, RecursionError):
            return []

    async def _get_models(self, timeout_s: float) -> tuple[int, httpx.Headers, bytes]:
        async with self._http.stream("GET", "/models", timeout=timeout_s) as response:
            limit = MODELS_MAX_BYTES if response.status_code == 200 else ERROR_BODY_BYTES
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > limit:
                    if response.status_code != 200:  # an error body: its start is enough
                        break
                    raise ReplyTooLarge(
                        f"{self.where}: the model list passed {limit} bytes; reading stopped",
                        status=200,
                        bytes_read=len(body),
                    )
            return response.status_code, response.headers, bytes(body[:limit])

    def error(
        self, status: int, headers: httpx.Headers, body: bytes, request: ChatRequest | None = None
    ) -> LLMError:
        """The classified error for a non-200 answer, with any echoed key redacted."""
        asked_format = request is not None and request.response_format() is not None
        return error_for_response(
            status, headers, body, secret=self._secret, asked_format=asked_format
        )

    def redact(self, text: str) -> str:
        return safe_message(text, self._secret)

    def streaming_refused(self, status: int, body: bytes) -> bool:
        """Whether a refusal is about what streaming adds; if so, stop sending it (one line).

        Some gateways and older servers reject `stream_options` (Azure's "Unrecognized request
        argument supplied: stream_options", pydantic's extra_forbidden) or streaming itself.
        A 400 costs nothing, so the request is sent again without it.
        """
        if not self.stream or status not in (400, 422):
            return False
        _, message = _error_fields(body)
        if self.stream_options and _STREAM_OPTIONS_WORDS.search(message):
            self.stream_options = False
            logger.warning(
                "{}: the server refuses stream_options; streaming without usage reports "
                "(token counts are estimated)",
                self.where,
            )
            return True
        if _STREAM_WORDS.search(message):
            self.stream = False
            logger.warning(
                "{}: the server refuses streaming; replies are read whole (llm.stream=false "
                "says so up front)",
                self.where,
            )
            return True
        return False

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()


class _Exchange:
    """One attempt: send, wait for the answer to start, read it within the bounds."""

    def __init__(self, client: ChatClient, http: httpx.AsyncBaseTransport, request: ChatRequest):
        self.c = client
        self.http = http
        self.request = request
        self.started = time.monotonic()
        self.limit = reply_bound(request.max_tokens, client.max_reply_bytes)
        self.ttft: float | None = None

    async def run(self) -> Completion:
        response = await self._start(self._build())
        # At most twice: a server may refuse stream_options, and then streaming itself.
        for _ in range(2):
            if not (self.c.stream and response.status_code in (400, 422)):
                break
            raw = await self._read(response, ERROR_BODY_BYTES, lambda _: None, clip=True)
            await response.aclose()
            if not self.c.streaming_refused(response.status_code, raw):
                raise self.c.error(response.status_code, response.headers, raw, self.request)
            response = await self._start(self._build())
        try:
            return await self._finish(response)
        finally:
            # On cancellation too: an unread response closes its connection, so the server
            # sees the client leave and (streaming) stops generating.
            await response.aclose()

    def _build(self) -> httpx.Request:
        body = self.request.payload()
        if self.c.stream:
            body["stream"] = True
            if self.c.stream_options:
                body["stream_options"] = {"include_usage": True}
        c = self.c
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        return httpx.Request(
            "POST",
            c.chat_url,
            headers=c.chat_headers,
            content=content,
            extensions=c.chat_extensions,
        )

    async def _start(self, built: httpx.Request) -> httpx.Response:
        """Send, and wait until the server starts answering (its status line and headers)."""
        wait, key = self._start_bound()
        try:
            async with asyncio.timeout(wait):
                return await self.http.handle_async_request(built)
        except TimeoutError:
            raise Timeout(self._timeout_text("no answer", wait, key)) from None

    def _start_bound(self) -> tuple[float | None, str]:
        r = self.request
        if self.c.stream:
            # A one-slot local server queues requests inside itself and answers each one
            # only when its turn comes; the attempt's own clock starts then.
            return self.c.queue_timeout_s, "llm.queue_timeout_s"
        return r.timeout_s, r.timeout_key

    async def _finish(self, response: httpx.Response) -> Completion:
        if response.status_code != 200:
            raw = await self._read(response, ERROR_BODY_BYTES, lambda _: None, clip=True)
            raise self.c.error(response.status_code, response.headers, raw, self.request)
        total, named, key = self._reply_bound()
        try:
            async with asyncio.timeout(total):
                if self.c.stream and _is_event_stream(response):
                    return await self._streamed(response)
                return await self._whole(response)
        except TimeoutError:
            raise Timeout(self._timeout_text("reply not finished", named, key)) from None

    def _reply_bound(self) -> tuple[float | None, float | None, str]:
        """How long the reply may take from here; the bound as configured, and its setting.

        Without streaming, the answer is already here or nearly: what is left of the attempt's
        timeout bounds it. Streaming, the clock starts now that the server answers, and a slow
        local model may take longer than the timeout as long as it keeps sending (the stall
        bound catches one that stops): at least `streaming_s_per_token` per max_tokens.
        """
        r = self.request
        if r.timeout_s is None:
            return None, None, r.timeout_key
        if not self.c.stream:
            left = r.timeout_s - (time.monotonic() - self.started)
            return left, r.timeout_s, r.timeout_key
        by_tokens = STREAM_S_PER_TOKEN * (r.max_tokens or _ASSUMED_MAX_TOKENS)
        if by_tokens <= r.timeout_s:
            return r.timeout_s, r.timeout_s, r.timeout_key
        return by_tokens, by_tokens, f"{STREAM_S_PER_TOKEN:g} s per max_tokens while streaming"

    async def _whole(self, response: httpx.Response) -> Completion:
        raw = await self._read(response, self.limit, lambda _: None)
        try:
            data: Any = json.loads(raw)
            choice = data["choices"][0]
            text = choice["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise ServerError("malformed response body", status=200) from None
        if not isinstance(text, str):
            raise InvalidOutput("the response has no text content", status=200)
        return self._completion(
            response,
            text,
            model=data.get("model"),
            usage=data.get("usage"),
            finish_reason=choice.get("finish_reason"),
        )

    async def _streamed(self, response: httpx.Response) -> Completion:
        parser, reply = EventParser(), StreamReply()

        def take(chunk: bytes) -> None:
            for data in parser.feed(chunk):
                if reply.add(data) and self.ttft is None:
                    self.ttft = time.monotonic() - self.started
                    _first_token()

        await self._read(response, self.limit, take)
        for data in parser.close():
            reply.add(data)
        self._check_stream_end(reply)
        return self._completion(
            response,
            reply.text,
            model=reply.model,
            usage=reply.usage,
            finish_reason=reply.finish_reason,
        )

    def _check_stream_end(self, reply: StreamReply) -> None:
        if reply.error is not None:
            raise ServerError(f"error inside the stream: {self.c.redact(reply.error)}", status=200)
        if reply.finish_reason is not None:
            return
        if reply.done and reply.parts:
            # llama-cpp-python ends a running stream this way when another request arrives
            # (`--interrupt_requests`, on by default): it serves one request at a time.
            raise Overloaded(
                "the server cut this stream short for another request ([DONE] without a "
                "finish_reason); llama-cpp-python does so unless started with "
                "--interrupt_requests false",
                status=200,
            )
        # llama-cpp-python reports errors raised after its 200 (e.g. a prompt over the context
        # window) only in its own log: the stream just ends.
        raise ServerError(
            f"the stream ended after {reply.chunks} chunk(s) without finishing "
            "(no finish_reason; the server's log says why)",
            status=200,
        )

    async def _read(
        self,
        response: httpx.Response,
        limit: int,
        take: Callable[[bytes], None],
        *,
        clip: bool = False,
    ) -> bytes:
        """The body, chunk by chunk: a stall or a reply past `limit` fails the attempt."""
        got: list[bytes] = []
        size = 0
        chunks = response.aiter_bytes()
        while True:
            try:
                chunk = await self._next_chunk(chunks, size)
            except StopAsyncIteration:
                return b"".join(got)
            size += len(chunk)
            if size > limit:
                if clip:  # an error body: its start is all we need
                    got.append(chunk[: max(0, limit - (size - len(chunk)))])
                    return b"".join(got)
                raise ReplyTooLarge(
                    f"{self.c.where}: the reply passed {limit} bytes while being read; reading "
                    "stopped (llm.max_reply_bytes; default 512 bytes per max_tokens, at least "
                    f"{REPLY_FLOOR_BYTES // 1024} kB)",
                    status=response.status_code,
                    bytes_read=size,
                )
            got.append(chunk)
            take(chunk)

    async def _next_chunk(self, chunks: AsyncIterator[bytes], size: int) -> bytes:
        """The next piece of the body within the stall bound; a warning at half of it, so a
        run held by a stalled reply says so before the attempt is given up.

        A timer and a timeout, not a task per chunk: this runs for every chunk of every reply.
        """
        bound = self.c.stall_s
        warn = asyncio.get_running_loop().call_later(bound / 2, self._warn_stalled, bound, size)
        try:
            async with asyncio.timeout(bound) as stall:
                return await anext(chunks)
        except TimeoutError:
            if not stall.expired():
                raise
            raise Stalled(
                f"{self.c.where}: the reply stalled: no byte for {bound:g} s "
                f"after {size} bytes ({self.c._stall_key})"
            ) from None
        finally:
            warn.cancel()

    def _warn_stalled(self, bound: float, size: int) -> None:
        logger.warning(
            "{}: no byte for {:g} s of a reply ({} bytes so far); it fails at {:g} s ({})",
            self.c.where,
            bound / 2,
            size,
            bound,
            self.c._stall_key,
        )

    def _completion(
        self,
        response: httpx.Response,
        text: str,
        *,
        model: Any,
        usage: Any,
        finish_reason: Any,
    ) -> Completion:
        r = self.request
        counts = usage if isinstance(usage, dict) else {}
        estimated = not (counts.get("prompt_tokens") and counts.get("completion_tokens"))
        return Completion(
            text=text,
            usage=Usage(
                input_tokens=int(counts.get("prompt_tokens") or _estimate(r)),
                output_tokens=int(counts.get("completion_tokens") or len(text) // 4 + 1),
            ),
            latency_s=time.monotonic() - self.started,
            model=str(model or r.model),
            headers={k.lower(): v for k, v in response.headers.items()},
            finish_reason=str(finish_reason) if finish_reason else None,
            ttft_s=self.ttft,
            requested_model=r.model,
            usage_estimated=estimated,
        )

    def _timeout_text(self, what: str, value: float | None, key: str) -> str:
        setting = f" ({key})" if key else ""
        limit = f"within {value:g} s" if value is not None else "in time"
        return f"{self.c.where}: {what} {limit}{setting}"


def _is_event_stream(response: httpx.Response) -> bool:
    return "text/event-stream" in response.headers.get("content-type", "")


def safe_url(url: str) -> str:
    """The URL without user:password@, for messages and store keys."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


_STREAM_OPTIONS_WORDS = re.compile(r"stream_options|include_usage", re.I)
_STREAM_WORDS = re.compile(r"\bstream(ing)?\b", re.I)
_FORMAT_WORDS = re.compile(r"response_format|json_schema|'text' or 'json_object'", re.I)
_CONTEXT_WORDS = re.compile(
    r"maximum context length|context window|context length|exceeds? the available context",
    re.I,
)


def names_response_format(message: str) -> bool:
    """An error that is about the `response_format` we sent: a capability answer, not a fault.

    llama-cpp-python rejects `json_schema` with HTTP 500 and pydantic's literal_error naming
    ('body', 'response_format', 'type'); older llama-server with 500 "response_format type
    must be one of ..."; others with 400 or 422.
    """
    return bool(_FORMAT_WORDS.search(message))


def error_for_response(
    status: int,
    headers: httpx.Headers,
    body: bytes,
    *,
    secret: str | None = None,
    asked_format: bool = False,
) -> LLMError:
    """Classify a non-200 answer into the error tree; the server's whole message is kept."""
    code, message = _error_fields(body)
    message = safe_message(message, secret)
    where = f"HTTP {status}" + (f" {code}" if code else "")
    detail = f"{where}: {message}" if message else where
    if status == 429:
        if code == "insufficient_quota":
            return QuotaExceeded(f"the account has no quota left ({detail})", status=status)
        return RateLimited(detail, retry_after=retry_after_seconds(headers, message=message))
    if status in (401, 403):
        return AuthError(f"the endpoint refused the API key ({detail})", status=status)
    if status == 404:
        if code == "model_not_found" or "model" in message.lower():
            return ModelNotFound(f"unknown model ({detail})", status=status)
        return BadRequest(f"not found ({detail})", status=status)
    if status in (400, 413, 422) and (
        code == "context_length_exceeded" or _CONTEXT_WORDS.search(message)
    ):
        return ContextTooLong(
            f"the prompt does not fit the context window ({detail})", status=status
        )
    if asked_format and status in (400, 422, 500, 501) and names_response_format(message):
        return UnsupportedFormat(
            f"the endpoint refuses this response_format ({detail})", status=status
        )
    if status in (503, 529):  # a 503's Retry-After is as binding as a 429's (RFC 9110 10.2.3)
        return Overloaded(detail, status=status, retry_after=stated_wait(headers, message=message))
    if status == 408:
        return Timeout(detail, status=status)
    if status >= 500 or status in (409, 425):
        return ServerError(detail, status=status)
    return BadRequest(f"the endpoint rejected the request ({detail})", status=status)


def _estimate(request: ChatRequest) -> int:
    # ~4 characters a token for English; good enough where the server reports no usage.
    return sum(len(m.get("content", "")) for m in request.messages) // 4 + 1


def _error_fields(body: bytes) -> tuple[str, str]:
    try:
        doc = json.loads(body)
    except ValueError:
        return "", body.decode("utf-8", "replace").strip()
    if not isinstance(doc, dict):
        return "", str(doc)
    err = doc.get("error")
    if err is None:  # vLLM's old flat envelope; FastAPI's {"detail": ...}
        err = doc if "message" in doc else {"message": doc.get("detail") or ""}
    if not isinstance(err, dict):
        return "", str(err)
    code = str(err.get("code") or "")
    if not code or code.isdigit():  # vLLM's code is the HTTP status again; its type says more
        code = str(err.get("type") or "")
    return code, str(err.get("message") or "")


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
