"""Rate buckets and the hidden concurrency gate; time is always passed in, never read.

A bucket for a per-minute limit L refills at L/60 per second and holds at most `burst_s`
seconds' worth (ten by default: L/6, at least 1): a client that overshoots sees 429s within
seconds instead of after spending a whole minute's burst. Gateways that count per second
hold about one second's worth.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable

__all__ = ["CapacityGate", "Overloaded", "TokenBucket", "format_duration"]

DEFAULT_BURST_S = 10.0


class TokenBucket:
    """A continuously refilled bucket for one per-minute limit."""

    __slots__ = ("_level", "_stamp", "burst_s", "limit")

    def __init__(self, limit_per_min: int, now: float, burst_s: float = DEFAULT_BURST_S) -> None:
        self.limit = limit_per_min
        self.burst_s = burst_s
        self._level = self.burst
        self._stamp = now

    @property
    def burst(self) -> float:
        return max(1.0, self.rate * self.burst_s)

    @property
    def rate(self) -> float:
        return self.limit / 60.0

    def set_limit(self, limit_per_min: int, now: float) -> None:
        self._refill(now)
        self.limit = limit_per_min
        self._level = min(self._level, self.burst)

    def wait_for(self, cost: float, now: float) -> float:
        """Seconds until `cost` is available (0 = now); a cost above the burst needs a full one."""
        self._refill(now)
        missing = min(cost, self.burst) - self._level
        return max(0.0, missing / self.rate)

    def take(self, cost: float, now: float) -> None:
        self._refill(now)
        self._level -= min(cost, self.burst)

    def remaining(self, now: float) -> int:
        self._refill(now)
        return max(0, math.floor(self._level))

    def reset_in(self, now: float) -> float:
        """Seconds until the bucket is full again."""
        self._refill(now)
        return max(0.0, (self.burst - self._level) / self.rate)

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._stamp)
        self._level = min(self.burst, self._level + elapsed * self.rate)
        self._stamp = now


class Overloaded(Exception):
    """The gate is full and its queue too: answer the profile's overflow refusal."""


class CapacityGate:
    """At most `capacity` holders at once, `queue` more wait in FIFO order, the rest are refused.

    `queue=None` is an unbounded queue (llama.cpp, vLLM: nobody is ever refused);
    `on_queue_change` hears the number waiting after every change.
    """

    __slots__ = ("_waiters", "capacity", "in_service", "on_queue_change", "queue")

    def __init__(
        self,
        capacity: int | None,
        queue: int | None,
        on_queue_change: Callable[[int], None] | None = None,
    ) -> None:
        self.capacity = capacity
        self.queue = queue
        self.in_service = 0
        self.on_queue_change = on_queue_change
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def try_acquire(self) -> bool:
        """Take a slot if one is free and nobody is waiting; never queues."""
        if self._has_room() and not self._waiters:
            self.in_service += 1
            return True
        return False

    async def acquire(self) -> None:
        """A slot, after waiting in the queue if need be; raises Overloaded if it is full."""
        if self.try_acquire():
            return
        if self.queue is not None and len(self._waiters) >= self.queue:
            raise Overloaded
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._changed()
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over just before the cancel
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
                self._changed()
            raise

    def release(self) -> None:
        self.in_service -= 1
        self._wake()

    def set_capacity(self, capacity: int | None) -> None:
        self.capacity = capacity
        self._wake()

    def _has_room(self) -> bool:
        return self.capacity is None or self.in_service < self.capacity

    def _wake(self) -> None:
        woke = False
        while self._waiters and self._has_room():
            waiter = self._waiters.popleft()
            woke = True
            if not waiter.done():
                self.in_service += 1
                waiter.set_result(None)
        if woke:
            self._changed()

    def _changed(self) -> None:
        if self.on_queue_change is not None:
            self.on_queue_change(len(self._waiters))


def format_duration(seconds: float) -> str:
    """OpenAI's reset format: `250ms`, `1s`, `2.5s`, `6m0s`, `1h2m3s`."""
    if seconds < 1.0:
        return f"{math.ceil(seconds * 1000)}ms"
    seconds = math.ceil(seconds * 1000) / 1000
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:.3f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{int(hours)}h{int(minutes)}m{text}"
    if minutes:
        return f"{int(minutes)}m{text}"
    return text
