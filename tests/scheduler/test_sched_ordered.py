"""run_ordered: input order, per-index errors, the sequential second pass, fatal errors."""

import asyncio

import pytest
from sched_fakes import FakeClock

from scheduler import OrderedResult, RetriesExhausted, run_ordered


class Fatal(Exception): ...


async def test_order_preserved_when_completion_is_not(clock: FakeClock) -> None:
    done: list[int] = []

    async def fn(delay: int) -> int:
        await clock.sleep(delay)
        return delay * 10

    out = await run_ordered([3, 1, 2], fn, on_done=lambda i, r, e: done.append(i))
    assert out.results == [30, 10, 20] and out.errors == {}
    assert done == [1, 2, 0]


async def test_errors_collected_by_index(clock: FakeClock) -> None:
    async def fn(x: int) -> int:
        await clock.sleep(1)
        if x % 2:
            raise ValueError(x)
        return x

    out: OrderedResult[int] = await run_ordered(range(5), fn, concurrency=2)
    assert out.results == [0, None, 2, None, 4]
    assert sorted(out.errors) == [1, 3] and isinstance(out.errors[1], ValueError)
    assert out.succeeded == [0, 2, 4] and out.failed == [1, 3]
    assert clock() == 3.0  # concurrency 2


async def test_second_pass_recovers_items_that_fail_only_in_parallel(clock: FakeClock) -> None:
    running = 0
    calls: list[int] = []

    async def fn(x: int) -> int:
        nonlocal running
        calls.append(x)
        running += 1
        try:
            await clock.sleep(1)
            if running > 1 and x in (1, 3):
                raise RetriesExhausted("draft", 6, None, None)
            return x
        finally:
            running -= 1

    out = await run_ordered(range(5), fn)
    assert out.results == [0, 1, 2, 3, 4] and out.errors == {}
    assert calls[5:] == [1, 3]

    running = 0
    out = await run_ordered(range(5), fn, second_pass=False)
    assert out.failed == [1, 3] and isinstance(out.errors[3], RetriesExhausted)


async def test_fatal_cancels_the_rest_and_propagates(clock: FakeClock) -> None:
    finished: list[int] = []

    async def fn(x: int) -> int:
        await clock.sleep(1 if x == 1 else 10)
        if x == 1:
            raise Fatal
        finished.append(x)
        return x

    with pytest.raises(Fatal):
        await run_ordered(range(4), fn, fatal=(Fatal,))
    assert finished == []


async def test_cancellation_propagates(clock: FakeClock) -> None:
    async def fn(x: int) -> int:
        await clock.sleep(10)
        return x

    task = asyncio.create_task(run_ordered(range(3), fn))
    await clock.sleep(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
