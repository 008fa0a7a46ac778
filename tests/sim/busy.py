"""Put a simulator into a known state over real HTTP: one request in service, a slot full."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from postgen.sim import SimServer

from .helpers import chat

SLOW = {"time_scale": 1.0, "ttft_s": 30.0, "per_token_s": 0.0}  # outlasts every test


def wait_until(predicate: Callable[[], object], *, tries: int = 400) -> None:
    """Poll every 20 ms; the bound only guards against a hang (about 8 s at rest)."""
    for _ in range(tries):
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition never held")


async def await_until(predicate: Callable[[], object], *, tries: int = 400) -> None:
    for _ in range(tries):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition never held")


async def while_busy(
    server: SimServer,
    then: Callable[[httpx.AsyncClient], Awaitable[Any]],
    busy: int = 1,
) -> Any:
    """Hold `busy` slow requests in service, run `then`, then drop the slow ones (their
    clients disconnect, so the simulator counts them abandoned)."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as c:
        slow = [
            asyncio.create_task(c.post("/chat/completions", json=chat(f"slow {i}")))
            for i in range(busy)
        ]
        await await_until(lambda: server.stats()["processing"] == busy)
        try:
            return await then(c)
        finally:
            for task in slow:
                task.cancel()
            for task in slow:
                with contextlib.suppress(asyncio.CancelledError):
                    await task


def refused_while_busy(server: SimServer, body: dict[str, Any] | None = None) -> httpx.Response:
    """The answer to one request sent while the only slot is taken."""

    async def second(c: httpx.AsyncClient) -> httpx.Response:
        return await c.post("/chat/completions", json=body or chat("hello"))

    response: httpx.Response = asyncio.run(while_busy(server, second))
    return response
