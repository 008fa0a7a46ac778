"""Fakes for scheduler tests: virtual time and maximal jitter."""

import asyncio
import heapq
import itertools
import random


class FakeClock:
    """A clock plus a `sleep` that advances it; a ticker wakes sleepers when tasks go idle."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self._heap: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, (self.now + seconds, next(self._seq), fut))
        await fut

    async def tick_forever(self) -> None:
        while True:
            for _ in range(30):  # let every runnable task reach its next sleep
                await asyncio.sleep(0)
            while self._heap and self._heap[0][2].done():
                heapq.heappop(self._heap)
            if not self._heap:
                continue
            self.now = max(self.now, self._heap[0][0])
            while self._heap and self._heap[0][0] <= self.now:
                fut = heapq.heappop(self._heap)[2]
                if not fut.done():
                    fut.set_result(None)


class MaxRandom(random.Random):
    """Jitter at its maximum, so backoffs are exact."""

    def random(self) -> float:
        return 1.0

    def uniform(self, a: float, b: float) -> float:
        return b
