"""The client classifies every answer once (transport seam: each test is about one tiny thing)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from postgen.errors import (
    AuthError,
    BadRequest,
    ConnectionFailed,
    ModelNotFound,
    Overloaded,
    QuotaExceeded,
    RateLimited,
    ServerError,
    Timeout,
)
from postgen.llm import ChatClient, ChatRequest
from postgen.llm.classify import verdict_for
from postgen.llm.client import safe_url
from postgen.llm.headers import parse_duration, retry_after_seconds, server_limits
from scheduler import Kind

REQUEST = ChatRequest(model="m", messages=[{"role": "user", "content": "hi"}])


def _client(status: int, body: object, headers: dict[str, str] | None = None) -> ChatClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers or {})

    return ChatClient("http://llm.test/v1", transport=httpx.MockTransport(handler))


def _ok_body(text: str = "hello") -> dict[str, object]:
    return {
        "model": "m",
        "choices": [{"message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3},
    }


async def test_success_carries_text_usage_latency_and_headers() -> None:
    client = _client(200, _ok_body(), {"x-ratelimit-limit-requests": "60"})
    completion = await client.complete(REQUEST)
    assert completion.text == "hello"
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (7, 3)
    assert completion.latency_s >= 0
    assert completion.headers["x-ratelimit-limit-requests"] == "60"


async def test_request_body_is_openai_compatible() -> None:
    seen: dict[str, object] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.update(json.loads(request.content))
        seen["auth"] = request.headers.get("authorization")
        return httpx.Response(200, json=_ok_body())

    client = ChatClient(
        "http://llm.test/v1", api_key="k-123", transport=httpx.MockTransport(handler)
    )
    await client.complete(
        ChatRequest(model="m", messages=[], max_tokens=5, seed=3, json_schema={"type": "object"})
    )
    assert seen["max_tokens"] == 5 and seen["seed"] == 3
    assert seen["response_format"]["type"] == "json_schema"  # type: ignore[index]
    assert seen["auth"] == "Bearer k-123"


@pytest.mark.parametrize(
    ("status", "body", "headers", "error", "kind"),
    [
        (429, {"error": {"message": "slow down"}}, {"retry-after": "2"}, RateLimited, Kind.DROP),
        (429, {"error": {"code": "insufficient_quota"}}, {}, QuotaExceeded, Kind.FATAL),
        (401, {"error": {"code": "invalid_api_key"}}, {}, AuthError, Kind.FATAL),
        (403, {}, {}, AuthError, Kind.FATAL),
        (404, {"error": {"code": "model_not_found"}}, {}, ModelNotFound, Kind.FATAL),
        (400, {"error": {"message": "bad"}}, {}, BadRequest, Kind.FATAL),
        (503, {}, {}, Overloaded, Kind.DROP),
        (529, {}, {}, Overloaded, Kind.DROP),
        (500, {}, {}, ServerError, Kind.RETRY),
        (502, {}, {}, ServerError, Kind.RETRY),
    ],
)
async def test_errors_are_classified(
    status: int, body: object, headers: dict[str, str], error: type[Exception], kind: Kind
) -> None:
    with pytest.raises(error) as info:
        await _client(status, body, headers).complete(REQUEST)
    assert verdict_for(info.value).kind is kind


async def test_rate_limited_parses_retry_after() -> None:
    with pytest.raises(RateLimited) as info:
        await _client(429, {}, {"retry-after-ms": "1500", "retry-after": "9"}).complete(REQUEST)
    assert info.value.retry_after == 1.5
    assert verdict_for(info.value).retry_after == 1.5


async def test_malformed_body_is_a_retryable_server_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"{not json")

    client = ChatClient("http://llm.test/v1", transport=httpx.MockTransport(handler))
    with pytest.raises(ServerError):
        await client.complete(REQUEST)


async def test_refused_connection_is_connection_failed() -> None:
    client = ChatClient("http://127.0.0.1:9/v1", connect_timeout_s=1)
    with pytest.raises(ConnectionFailed, match=r"127\.0\.0\.1:9"):
        await client.complete(REQUEST)
    await client.aclose()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1s", 1.0), ("6m0s", 360.0), ("250ms", 0.25), ("1h2m3s", 3723.0), ("0.5", 0.5)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_retry_after_falls_back_to_reset_headers() -> None:
    headers = {"x-ratelimit-reset-requests": "2s", "x-ratelimit-reset-tokens": "500ms"}
    assert retry_after_seconds(headers) == 2.0
    assert retry_after_seconds({}) is None


def test_server_limits_from_headers() -> None:
    limits = server_limits(
        {"x-ratelimit-limit-requests": "500", "x-ratelimit-remaining-requests": "499"}
    )
    assert limits is not None and limits.limit_requests == 500
    assert server_limits({}) is None


async def test_an_echoed_key_never_reaches_the_error_message() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"error": {"code": "invalid_api_key", "message": "Incorrect key: zz9-4242-key"}}
        return httpx.Response(401, json=body)

    client = ChatClient(
        "http://llm.test/v1", api_key="zz9-4242-key", transport=httpx.MockTransport(handler)
    )
    with pytest.raises(AuthError) as info:
        await client.complete(REQUEST)
    assert "zz9-4242-key" not in str(info.value)
    assert "***" in str(info.value)


def test_safe_url_drops_credentials() -> None:
    assert safe_url("https://user:pw@proxy.test:8443/v1") == "https://proxy.test:8443/v1"
    assert safe_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"


async def test_model_list_of_null_is_empty() -> None:
    assert await _client(200, {"data": None}).list_models() == []


async def test_an_endpoint_that_never_answers_times_out() -> None:
    import socket

    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        client = ChatClient(f"http://127.0.0.1:{port}/v1")
        with pytest.raises(Timeout, match="did not answer"):
            await client.list_models(timeout_s=0.3)
        await client.aclose()


async def test_requests_go_through_a_proxy_named_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Chat requests skip httpx's client for speed; they must still be routed as it routes
    # them. A loopback "proxy" answers, so the request line shows it was asked for the URL.
    seen: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line, *fields = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
        headers = dict(f.lower().split(b": ", 1) for f in fields if f)
        await reader.readexactly(int(headers[b"content-length"]))
        seen.append(line)
        body = json.dumps(_ok_body("via proxy")).encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = ChatClient("http://llm.test/v1")
    try:
        completion = await client.complete(REQUEST)
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()
    assert completion.text == "via proxy"
    assert seen == [b"POST http://llm.test/v1/chat/completions HTTP/1.1"]


async def test_a_429_waits_what_its_message_says_before_the_limits_reset() -> None:
    body = {"error": {"message": "Limit 60, Used 60, Requested 1. Please try again in 1.5s."}}
    headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "59s"}
    with pytest.raises(RateLimited) as caught:
        await _client(429, body, headers).complete(REQUEST)
    assert caught.value.retry_after == 1.5
