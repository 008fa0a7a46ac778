"""Fixtures for scheduler tests: a fake clock whose sleeps resolve in virtual time."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from sched_fakes import FakeClock


@pytest.fixture
async def clock() -> AsyncIterator[FakeClock]:
    fake = FakeClock()
    ticker = asyncio.create_task(fake.tick_forever())
    yield fake
    ticker.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await ticker
