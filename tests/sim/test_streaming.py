"""`stream: true`: SSE framing, usage chunks, TTFT before the last token, queue before the first
byte. Order of events is asserted through `/stats` and chunk counts, never through timings."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from postgen.sim import SimServer

from .busy import await_until
from .helpers import chat, reply_text
from .sse import DONE, aevents, chunks, events_of

Make = Callable[..., SimServer]
LONG = {"time_scale": 1.0, "ttft_s": 0.0, "per_token_s": 0.5}  # a 50-token reply takes 25 s


def _stream(server: SimServer, body: dict[str, Any]) -> tuple[httpx.Response, list[str]]:
    with (
        httpx.Client(base_url=server.base_url, timeout=30) as c,
        c.stream("POST", "/chat/completions", json={**body, "stream": True}) as response,
    ):
        return response, list(events_of(response.iter_lines()))


def _content(parsed: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content", "") for c in parsed if c.get("choices"))


def test_sse_framing_matches_openai(make_server: Make) -> None:
    server = make_server()
    body = chat("Tell me about streams", stream_options={"include_usage": True})
    whole = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=10).json()
    response, events = _stream(server, body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["transfer-encoding"] == "chunked"
    parsed = chunks(events)
    assert all(c["object"] == "chat.completion.chunk" for c in parsed)
    assert len({c["id"] for c in parsed}) == 1 and parsed[0]["model"] == "sim-1"
    first, *middle, finish, usage = parsed
    assert first["choices"][0]["delta"]["role"] == "assistant"
    assert all(set(c["choices"][0]["delta"]) == {"content"} for c in middle)
    assert all(c["choices"][0]["finish_reason"] is None for c in [first, *middle])
    assert finish["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert usage["choices"] == [] and usage["usage"] == whole["usage"]
    assert _content(parsed) == whole["choices"][0]["message"]["content"]
    assert len(middle) == whole["usage"]["completion_tokens"]  # one chunk per token
    assert server.stats()["streamed"] == 1 and server.stats()["by_status"] == {"200": 2}


def test_usage_chunk_only_when_asked_and_supported(make_server: Make) -> None:
    _, plain = _stream(make_server(), chat("hi"))
    assert all("usage" not in c for c in chunks(plain))
    _, openai = _stream(
        make_server(profile="openai"), chat("hi", stream_options={"include_usage": True})
    )
    *rest, last = chunks(openai)
    assert last["usage"]["total_tokens"] > 0
    assert all(c["usage"] is None for c in rest)  # OpenAI's null on every other chunk
    server = make_server(profile="llamacpp")
    response, llama = _stream(server, chat("hi", stream_options={"include_usage": True}))
    assert response.status_code == 200  # stream_options ignored, not refused
    parsed = chunks(llama)
    assert (
        all("usage" not in c for c in parsed)
        and parsed[-1]["choices"][0]["finish_reason"] == "stop"
    )


def test_llamacpp_stream_keeps_json_dumps_spacing(make_server: Make) -> None:
    server = make_server(profile="llamacpp")
    with (
        httpx.Client(base_url=server.base_url, timeout=10) as c,
        c.stream("POST", "/chat/completions", json=chat("hi", stream=True)) as response,
    ):
        raw = response.read().decode()
    assert raw.startswith('data: {"id": "chatcmpl-')
    assert '"object": "chat.completion.chunk"' in raw and raw.endswith("data: [DONE]\n\n")


def test_max_tokens_truncates_with_finish_reason_length(make_server: Make) -> None:
    server = make_server(profile="openai")
    full = httpx.post(f"{server.base_url}/chat/completions", json=chat("hi"), timeout=10).json()
    assert full["choices"][0]["finish_reason"] == "stop"
    cut = httpx.post(
        f"{server.base_url}/chat/completions", json=chat("hi", max_tokens=5), timeout=10
    ).json()
    assert cut["choices"][0]["finish_reason"] == "length"
    assert cut["usage"]["completion_tokens"] == 5
    text = cut["choices"][0]["message"]["content"]
    assert full["choices"][0]["message"]["content"].startswith(text) and len(text) == 20
    _, events = _stream(server, chat("hi", max_tokens=5))
    parsed = chunks(events)
    assert parsed[-1]["choices"][0]["finish_reason"] == "length"
    assert _content(parsed) == text
    assert server.stats()["truncated"] == 2


def test_a_real_model_is_cut_off_at_max_tokens(make_server: Make) -> None:
    # The sim profile's writer aims below max_tokens; a real model does not know it.
    prompt = "Write a blog post.\n<brief><topic>Focus</topic><words>900</words></brief>"
    server = make_server(profile="vllm")
    cut = httpx.post(f"{server.base_url}/chat/completions", json=chat(prompt, max_tokens=200))
    assert cut.json()["choices"][0]["finish_reason"] == "length"
    assert cut.json()["usage"]["completion_tokens"] == 200


async def test_first_token_arrives_while_generation_goes_on(make_server: Make) -> None:
    server = make_server(**LONG)
    async with (
        httpx.AsyncClient(base_url=server.base_url, timeout=30) as c,
        c.stream("POST", "/chat/completions", json=chat("hello there", stream=True)) as response,
    ):
        seen: list[dict[str, Any]] = []
        async for event in aevents(response):
            seen.append(json.loads(event))
            if seen[-1]["choices"][0]["delta"].get("content"):
                break
        stats = server.stats()
        assert stats["processing"] == 1 and stats["streamed"] == 0  # the rest is still to come
        assert len(seen) == 2  # the role chunk, then the first token
    # leaving mid-stream: the generation stops and its slot is free at once
    await await_until(lambda: server.stats()["abandoned"] == 1)
    stats = server.stats()
    assert stats["processing"] == 0 and stats["by_status"] == {"499": 1}


async def test_queue_delays_the_first_byte(make_server: Make) -> None:
    server = make_server(profile="queue", capacity=1, **LONG)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as c:
        async with c.stream("POST", "/chat/completions", json=chat("one", stream=True)) as first:
            events = aevents(first)
            assert json.loads(await anext(events))["choices"][0]["delta"]["role"] == "assistant"

            async def second() -> list[str]:
                async with c.stream(
                    "POST", "/chat/completions", json=chat("two", max_tokens=1, stream=True)
                ) as response:
                    assert response.status_code == 200
                    return [e async for e in aevents(response)]

            waiting = asyncio.create_task(second())
            await await_until(lambda: server.stats()["queued"] == 1)
            await asyncio.sleep(0.1)
            assert not waiting.done()  # no status line yet: it waits for the slot
        # the first client left; its slot passes to the second request
        got = await asyncio.wait_for(waiting, timeout=20)
    assert got[-1] == DONE and len(got) == 4  # role, one token, finish, [DONE]
    stats = server.stats()
    assert stats["peak_queued"] == 1 and stats["abandoned"] == 1 and stats["streamed"] == 1


def test_vllm_tokens_slow_down_as_the_batch_grows(make_server: Make) -> None:
    import time

    server = make_server(
        profile="vllm", batch_slowdown=0.5, time_scale=1.0, ttft_s=0, per_token_s=0.01
    )
    body = chat("hi", max_tokens=20)

    async def run(n: int) -> float:
        limits = httpx.Limits(max_connections=n)
        async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=30) as c:
            start = time.monotonic()
            responses = await asyncio.gather(
                *(c.post("/chat/completions", json=body) for _ in range(n))
            )
            assert all(r.status_code == 200 for r in responses)
            return time.monotonic() - start

    alone = asyncio.run(run(1))
    batch = asyncio.run(run(10))  # up to 1 + 0.5 × 9 = 5.5 × slower per token
    assert batch > 2 * alone  # a wide margin within one process
    assert server.stats()["peak_processing"] == 10


@pytest.mark.parametrize("profile", ["sim", "openai"])
def test_stream_and_plain_answers_agree(make_server: Make, profile: str) -> None:
    server = make_server(profile=profile)
    text = reply_text(httpx.post(f"{server.base_url}/chat/completions", json=chat("agree?")))
    _, events = _stream(server, chat("agree?"))
    assert _content(chunks(events)) == text


async def test_llamacpp_stream_is_cut_short_by_a_waiting_request(make_server: Make) -> None:
    server = make_server(profile="llamacpp", **LONG)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as c:
        async with c.stream("POST", "/chat/completions", json=chat("one", stream=True)) as first:
            events = aevents(first)
            assert json.loads(await anext(events))["choices"][0]["delta"]["role"] == "assistant"
            second = asyncio.create_task(
                c.post("/chat/completions", json=chat("two", max_tokens=1))
            )
            rest = [e async for e in events]
        assert rest[-1] == DONE
        parsed = [json.loads(e) for e in rest[:-1]]
        assert parsed and all(p["choices"][0]["finish_reason"] is None for p in parsed)
        assert (await asyncio.wait_for(second, timeout=20)).status_code == 200
    stats = server.stats()
    assert stats["preempted"] == 1 and stats["streamed"] == 0 and stats["completed"] == 2


async def test_stall_fault_goes_silent_after_the_first_token(make_server: Make) -> None:
    server = make_server(stall_rate=1.0, hang_s=60.0)  # no latency otherwise
    async with (
        httpx.AsyncClient(base_url=server.base_url, timeout=30) as c,
        c.stream("POST", "/chat/completions", json=chat("hello", stream=True)) as response,
    ):
        events = aevents(response)
        assert json.loads(await anext(events))["choices"][0]["delta"]["role"] == "assistant"
        assert json.loads(await anext(events))["choices"][0]["delta"]["content"]
        with pytest.raises(TimeoutError):  # the rest would come at once but for the stall
            await asyncio.wait_for(anext(events), timeout=0.5)
        assert server.stats()["faults"] == {"stall": 1}
    await await_until(lambda: server.stats()["abandoned"] == 1)
    assert server.stats()["processing"] == 0


def test_chunk_tokens_groups_content_after_the_first_token(make_server: Make) -> None:
    server = make_server(chunk_tokens=5)
    body = chat("Tell me about streams", stream_options={"include_usage": True})
    whole = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=10).json()
    _, events = _stream(server, body)
    parsed = chunks(events)
    middle = parsed[1:-2]  # between the role chunk and the finish and usage chunks
    tokens = whole["usage"]["completion_tokens"]
    assert _content(parsed) == whole["choices"][0]["message"]["content"]
    assert len(middle) == 1 + -(-(tokens - 1) // 5)  # the first token alone, then 5 a chunk
    assert len(middle[0]["choices"][0]["delta"]["content"]) <= 4  # one token: 4 characters
