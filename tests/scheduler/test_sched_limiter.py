"""The asyncio limiter: slot accounting, FIFO order, shrinking limits."""

import asyncio

import pytest

from scheduler import AIMDLimit, FixedLimit, Limiter


async def spin(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_never_more_than_limit_in_flight() -> None:
    limiter = Limiter(FixedLimit(3), clock=lambda: 0.0)
    peak = 0

    async def work() -> None:
        nonlocal peak
        async with await limiter.acquire() as permit:
            peak = max(peak, limiter.inflight)
            await spin(3)
            permit.success()

    await asyncio.gather(*(work() for _ in range(20)))
    assert peak == 3
    assert limiter.inflight == 0


async def test_waiters_are_served_fifo() -> None:
    limiter = Limiter(FixedLimit(1), clock=lambda: 0.0)
    first = await limiter.acquire()
    order: list[int] = []

    async def wait(i: int) -> None:
        permit = await limiter.acquire()
        order.append(i)
        permit.ignored()

    tasks = [asyncio.create_task(wait(i)) for i in range(5)]
    await spin()
    assert limiter.waiting == 5
    first.ignored()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]


async def test_shrinking_limit_lets_inflight_finish_but_admits_none() -> None:
    current = 4
    limiter = Limiter(lambda: current, clock=lambda: 0.0)
    held = [await limiter.acquire() for _ in range(4)]
    waiter = asyncio.create_task(limiter.acquire())
    current = 2
    held.pop().ignored()
    await spin()
    assert not waiter.done() and limiter.inflight == 3
    held.pop().ignored()
    await spin()
    assert not waiter.done()
    held.pop().ignored()
    (await waiter).ignored()
    assert limiter.inflight == 1


async def test_growing_limit_admits_after_refresh() -> None:
    current = 1
    limiter = Limiter(lambda: current, clock=lambda: 0.0)
    await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await spin()
    current = 2
    limiter.refresh()
    await asyncio.wait_for(waiter, 1)
    assert limiter.inflight == 2


async def test_cancelled_waiter_does_not_leak_or_block() -> None:
    limiter = Limiter(FixedLimit(1), clock=lambda: 0.0)
    held = await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await spin()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    held.ignored()
    assert limiter.inflight == 0
    (await limiter.acquire()).ignored()
    assert limiter.inflight == 0


async def test_permit_outcomes_feed_the_limit_once() -> None:
    now = 0.0
    limit = AIMDLimit(initial=4)
    limiter = Limiter(limit, clock=lambda: now)
    permit = await limiter.acquire()
    now = 2.0
    permit.dropped()
    permit.dropped()
    permit.success()
    assert limit.limit == 2
    assert limiter.inflight == 0
