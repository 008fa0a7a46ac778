"""The client's bounds against a hostile server: time, memory, error text, streaming.

Bounds are asserted by counting (bytes held, requests seen, connections the client closed)
with short injected stall bounds; pytest's timeout is only the hang guard.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator

import httpx
import pytest
from loguru import logger

from postgen.errors import (
    ContextTooLong,
    Overloaded,
    ReplyTooLarge,
    ServerError,
    Stalled,
    Timeout,
    UnsupportedFormat,
)
from postgen.llm import ChatClient, ChatRequest
from postgen.llm.client import (
    MODELS_MAX_BYTES,
    REPLY_BYTES_PER_TOKEN,
    REPLY_FLOOR_BYTES,
    error_for_response,
    reply_bound,
)
from postgen.llm.types import Form
from tests.llm.hostile import CHUNK, LLAMACPP_REFUSAL, Hostile, hostile_server

pytestmark = pytest.mark.timeout(30)

SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}}


def _request(**kw: object) -> ChatRequest:
    base: dict[str, object] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    return ChatRequest(**{**base, **kw})  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def hostile() -> Iterator[Hostile]:
    with hostile_server() as server:
        yield server


async def _until(holds: Callable[[], bool]) -> None:
    """Poll what the server counted; the bound is a hang guard, not a timing claim."""
    for _ in range(2000):
        if holds():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the server never saw it")


async def _settle(hostile: Hostile, mode: str, closed: int) -> None:
    """Until the server saw `closed` client hang-ups in `mode`."""
    await _until(lambda: hostile.client_closed[mode] >= closed)


def test_reply_bound_derives_from_max_tokens() -> None:
    assert reply_bound(100) == REPLY_FLOOR_BYTES
    assert reply_bound(2000) == 2000 * REPLY_BYTES_PER_TOKEN
    assert reply_bound(2000, configured=4096) == 4096


async def test_an_endless_chunked_body_stops_at_the_size_bound(hostile: Hostile) -> None:
    client = ChatClient(hostile.url("endless"), max_reply_bytes=64 * 1024)
    with pytest.raises(ReplyTooLarge, match=r"passed 65536 bytes.*llm\.max_reply_bytes") as info:
        await client.complete(_request())
    # Memory held is the bound plus at most one network read, not the endless body.
    assert 64 * 1024 < info.value.bytes_read <= 64 * 1024 + 64 * 1024 + len(CHUNK)
    await client.aclose()
    await _settle(hostile, "endless", 1)  # and the connection was closed, so it stopped sending


async def test_an_endless_model_list_stops_at_its_size_bound(hostile: Hostile) -> None:
    client = ChatClient(hostile.url("endless"))
    with pytest.raises(ReplyTooLarge, match="model list passed") as info:
        await client.list_models()
    assert MODELS_MAX_BYTES < info.value.bytes_read <= MODELS_MAX_BYTES + 64 * 1024 + len(CHUNK)
    await client.aclose()


async def test_a_model_list_dripped_a_byte_at_a_time_fails_at_the_preflight_bound(
    hostile: Hostile,
) -> None:
    # Every read returns within httpx's per-read timeout; only a bound on the whole answer
    # stops it.
    client = ChatClient(hostile.url("drip"))
    with pytest.raises(Timeout, match=r"did not answer within 0\.5 s"):
        await client.list_models(timeout_s=0.5)
    await client.aclose()
    assert hostile.bytes_sent["drip"] >= 2  # it was answering, a byte at a time


async def test_a_model_list_that_does_not_decode_is_an_llm_error(hostile: Hostile) -> None:
    # The preflight goes on without a list, as for a server that lists none: no traceback.
    client = ChatClient(hostile.url("badgzip"))
    with pytest.raises(ServerError, match="unreadable model list"):
        await client.list_models()
    await client.aclose()


async def test_a_model_list_nested_past_the_parser_s_depth_lists_none(hostile: Hostile) -> None:
    client = ChatClient(hostile.url("deepjson"))
    assert await client.list_models() == []
    await client.aclose()


async def test_a_10_mb_reply_is_refused_while_reading(hostile: Hostile) -> None:
    client = ChatClient(hostile.url("big"))  # default bound: 256 kB for small max_tokens
    with pytest.raises(ReplyTooLarge) as info:
        await client.complete(_request(max_tokens=64))
    assert info.value.bytes_read <= REPLY_FLOOR_BYTES + 128 * 1024
    await client.aclose()


async def test_a_reply_stalled_after_headers_fails_at_the_stall_bound(hostile: Hostile) -> None:
    client = ChatClient(hostile.url("stall"), stall_s=0.2)
    for _ in range(3):
        with pytest.raises(Stalled, match=r"no byte for 0\.2 s after 0 bytes \(llm\.stall_s\)"):
            await client.complete(_request())
    await client.aclose()
    await _settle(hostile, "stall", 3)  # each stalled attempt let go of its connection


async def test_a_stream_stalled_mid_reply_fails_at_the_stall_bound(hostile: Hostile) -> None:
    client = ChatClient(hostile.url("stallstream"), stream=True, stall_s=0.2)
    with pytest.raises(Stalled, match=r"llm\.stall_s"):
        await client.complete(_request())
    await client.aclose()
    await _settle(hostile, "stallstream", 1)


async def test_an_attempt_timeout_names_its_value_and_setting(hostile: Hostile) -> None:
    client = ChatClient(hostile.url("stall"), stall_s=30)
    request = _request(timeout_s=0.2, timeout_key="stage.extract.retry.timeout_s")
    with pytest.raises(Timeout, match=r"within 0\.2 s \(stage\.extract\.retry\.timeout_s\)"):
        await client.complete(request)
    await client.aclose()


async def test_streaming_assembles_text_model_finish_reason_and_ttft(hostile: Hostile) -> None:
    client = ChatClient(hostile.url("stream"), stream=True)
    done = await client.complete(_request(model="llama3.1"))
    assert done.text == "Hello there, friend"
    assert done.finish_reason == "stop" and not done.truncated
    assert done.ttft_s is not None and 0 <= done.ttft_s <= done.latency_s
    assert (done.model, done.requested_model) == ("/models/tiny.gguf", "llama3.1")
    assert done.usage_estimated  # llama-cpp-python streams no usage
    body = hostile.bodies[-1]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    cut = await client.complete(_request(max_tokens=2))
    assert cut.text == "Hello there" and cut.truncated
    await client.aclose()


async def test_a_preempted_stream_is_a_capacity_signal(hostile: Hostile) -> None:
    client = ChatClient(hostile.url("preempt"), stream=True)
    with pytest.raises(Overloaded, match="interrupt_requests"):
        await client.complete(_request())
    await client.aclose()


async def test_cancelling_a_stream_closes_its_connection(hostile: Hostile) -> None:
    client = ChatClient(hostile.url("generate"), stream=True)
    task = asyncio.create_task(client.complete(_request()))
    await _until(lambda: hostile.requests["generate"] >= 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _until(lambda: hostile.tokens_after_close["generate"] >= 1)  # it noticed, stopped
    assert hostile.tokens_after_close["generate"] == 1
    await client.aclose()


async def test_a_json_schema_refusal_is_a_capability_answer(hostile: Hostile) -> None:
    client = ChatClient(hostile.url("refuse_schema"))
    with pytest.raises(UnsupportedFormat, match="Input should be 'text' or 'json_object'"):
        await client.complete(_request(json_schema=SCHEMA))
    done = await client.complete(_request(json_schema=SCHEMA, form=Form.JSON_OBJECT_SCHEMA))
    assert done.text == '{"ok": true}'
    assert hostile.bodies[-1]["response_format"] == {"type": "json_object", "schema": SCHEMA}
    await client.aclose()


def test_a_500_naming_response_format_is_ours_only_if_we_sent_one() -> None:
    body = json.dumps({"error": {"message": LLAMACPP_REFUSAL}}).encode()
    assert isinstance(error_for_response(500, httpx.Headers(), body), ServerError)
    refused = error_for_response(500, httpx.Headers(), body, asked_format=True)
    assert isinstance(refused, UnsupportedFormat)


async def test_context_overflow_is_its_own_item_level_error(hostile: Hostile) -> None:
    client = ChatClient(hostile.url("context"))
    with pytest.raises(ContextTooLong, match="maximum context length is 2048 tokens") as info:
        await client.complete(_request())
    assert info.value.reason == "context_length" and "Please reduce the length." in str(info.value)
    await client.aclose()


async def test_error_text_is_whole_one_line_and_redacted_before_cutting(hostile: Hostile) -> None:
    key = "sk-test-0123456789abcdef"
    client = ChatClient(hostile.url("echo_key"), api_key=key)
    with pytest.raises(ServerError) as info:
        await client.complete(_request())
    text = str(info.value)
    assert key[:8] not in text and "\n" not in text
    assert text.count("***") == 2  # the whole key and its 10-character prefix
    assert len(text) <= 1100 and text.endswith("…")  # cut, at a sane length, after redaction
    await client.aclose()


@pytest.mark.usefixtures("postgen_logs")
async def test_a_stall_warns_at_half_its_bound_before_failing(hostile: Hostile) -> None:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="WARNING", format="{message}")
    client = ChatClient(hostile.url("stall"), stall_s=0.4)
    try:
        with pytest.raises(Stalled):
            await client.complete(_request())
    finally:
        logger.remove(sink)
        await client.aclose()
    assert len(lines) == 1
    assert (
        "no byte for 0.2 s of a reply (0 bytes so far); it fails at 0.4 s (llm.stall_s)"
        in (lines[0])
    )


async def test_a_server_refusing_stream_options_streams_without_them(hostile: Hostile) -> None:
    client = ChatClient(hostile.url("nostreamoptions"), stream=True)
    seen = len(hostile.bodies)
    first = await client.complete(_request())
    second = await client.complete(_request())
    await client.aclose()
    assert first.text == second.text == "Hello there, friend"
    assert first.ttft_s is not None and first.usage_estimated
    # One refused request, then every request streams without the options it refused.
    assert [("stream_options" in b, b.get("stream")) for b in hostile.bodies[seen:]] == [
        (True, True),
        (False, True),
        (False, True),
    ]


async def test_a_server_refusing_streaming_is_read_whole(hostile: Hostile) -> None:
    client = ChatClient(hostile.url("nostream"), stream=True)
    seen = len(hostile.bodies)
    first = await client.complete(_request())
    second = await client.complete(_request())
    await client.aclose()
    assert first.text == second.text == "hello"
    assert [b.get("stream") for b in hostile.bodies[seen:]] == [True, None, None]


async def test_an_unrelated_bad_request_is_not_taken_for_a_streaming_refusal(
    hostile: Hostile,
) -> None:
    client = ChatClient(hostile.url("context"), stream=True)
    before = hostile.requests["context"]
    with pytest.raises(ContextTooLong):
        await client.complete(_request())
    await client.aclose()
    assert client.stream and client.stream_options
    assert hostile.requests["context"] == before + 1  # not sent again


async def test_a_server_refusing_stream_options_then_streaming_is_read_whole(
    hostile: Hostile,
) -> None:
    client = ChatClient(hostile.url("plainonly"), stream=True)
    seen = len(hostile.bodies)
    done = await client.complete(_request())
    await client.aclose()
    assert done.text == "hello"
    sent = [("stream_options" in b, b.get("stream")) for b in hostile.bodies[seen:]]
    assert sent == [(True, True), (False, True), (False, None)]
