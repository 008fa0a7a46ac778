"""A small server-sent-events reader for the streaming tests (what a client must parse)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx

DONE = "[DONE]"


def events_of(lines: Iterator[str]) -> Iterator[str]:
    """`data:` payloads, one per event (events end at a blank line; comments are skipped)."""
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value.removeprefix(" "))
    if data:
        yield "\n".join(data)


async def aevents(response: httpx.Response) -> AsyncIterator[str]:
    """The same, over an open async streaming response."""
    data: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value.removeprefix(" "))


def chunks(events: list[str]) -> list[dict[str, Any]]:
    """Every event before `[DONE]`, parsed; asserts `[DONE]` is the last event."""
    assert events and events[-1] == DONE, events[-3:]
    return [json.loads(e) for e in events[:-1]]
