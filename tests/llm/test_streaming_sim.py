"""Streaming against the simulator's llama-cpp-python profile: TTFT, stalls, cancellation.

Asserted by counting at the simulator (its /stats), with short injected bounds; pytest's
timeout is only the hang guard.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from postgen.errors import Stalled
from postgen.llm import ChatClient, ChatRequest
from postgen.sim import SimConfig, SimServer

pytestmark = pytest.mark.timeout(60)

ARTICLE = ChatRequest(
    model="any",
    messages=[
        {"role": "system", "content": "You are a senior content marketer."},
        {"role": "user", "content": "Write a blog post.\n<topic>Edge caching</topic>"},
    ],
    max_tokens=800,
)


async def _until(holds: Callable[[], bool]) -> None:
    for _ in range(3000):
        if holds():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the simulator never counted it")


async def test_a_stream_records_ttft_finish_reason_and_the_answering_model() -> None:
    with SimServer(SimConfig(profile="llamacpp", time_scale=0.01)) as server:
        client = ChatClient(server.base_url, stream=True)
        done = await client.complete(ARTICLE)
        await client.aclose()
        stats = server.stats()
    assert done.ttft_s is not None and done.ttft_s <= done.latency_s
    assert done.finish_reason in ("stop", "length") and done.text
    assert (done.model, done.requested_model) == ("any", "any")  # llama-cpp-python echoes it
    assert stats["streamed"] == 1


async def test_cancelling_a_stream_stops_the_servers_generation() -> None:
    # Realistic latency: the article takes seconds to generate, so cancelling lands mid-way.
    with SimServer(SimConfig(profile="llamacpp", time_scale=1.0)) as server:
        client = ChatClient(server.base_url, stream=True)
        task = asyncio.create_task(client.complete(ARTICLE))
        await _until(lambda: server.stats()["processing"] >= 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await _until(lambda: server.stats()["abandoned"] >= 1)
        stats = server.stats()
        await client.aclose()
    assert stats["abandoned"] == 1 and stats["abandoned_finished"] == 0
    assert stats["completed"] == 0


async def test_a_stalled_stream_fails_the_attempt_at_the_stall_bound() -> None:
    with SimServer(SimConfig(profile="llamacpp", time_scale=0.01, stall_rate=1.0)) as server:
        client = ChatClient(server.base_url, stream=True, stall_s=0.3)
        with pytest.raises(Stalled, match=r"no byte for 0\.3 s .*\(llm\.stall_s\)"):
            await client.complete(ARTICLE)
        await client.aclose()
        await _until(lambda: server.stats()["concurrency"] == 0)  # it let go of the request
