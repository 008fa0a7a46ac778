"""Rate pacing (requests and tokens per minute) on aiolimiter buckets read through a clock."""

import asyncio
from typing import cast

from aiolimiter import AsyncLimiter

from scheduler.clock import Clock, Sleep

__all__ = ["Pacer"]


class _ClockTime:
    """The one loop method AsyncLimiter needs when it never has to block: `time()`."""

    __slots__ = ("time",)

    def __init__(self, clock: Clock) -> None:
        self.time = clock


class _Bucket(AsyncLimiter):
    """AsyncLimiter on an injected clock; callers wait outside it, then take capacity."""

    __slots__ = ("_clock_loop",)

    def __init__(self, max_rate: float, clock: Clock) -> None:
        self._clock_loop = cast(asyncio.AbstractEventLoop, _ClockTime(clock))
        super().__init__(max_rate, 60.0)

    @property
    def _loop(self) -> asyncio.AbstractEventLoop:
        return self._clock_loop

    def wait_s(self, amount: float) -> float:
        """Seconds until `amount` fits in the bucket."""
        self._leak()
        return max(0.0, (self._level + amount - self.max_rate) / self._rate_per_sec)


class Pacer:
    """Paces requests (rpm) and tokens (tpm); `configure` swaps rates when they change."""

    __slots__ = ("_clock", "_requests", "_sleep", "_tokens")

    def __init__(
        self, clock: Clock, sleep: Sleep, rpm: float | None = None, tpm: float | None = None
    ) -> None:
        self._clock, self._sleep = clock, sleep
        self._requests: _Bucket | None = None
        self._tokens: _Bucket | None = None
        self.configure(rpm, tpm)

    @property
    def rpm(self) -> float | None:
        """Requests per minute, or None when unpaced."""
        return self._requests.max_rate if self._requests else None

    @property
    def tpm(self) -> float | None:
        """Tokens per minute, or None when unpaced."""
        return self._tokens.max_rate if self._tokens else None

    def configure(self, rpm: float | None, tpm: float | None) -> bool:
        """Set the rates; return whether anything changed."""
        changed = False
        if rpm != self.rpm:
            self._requests, changed = (_Bucket(rpm, self._clock) if rpm else None), True
        if tpm != self.tpm:
            self._tokens, changed = (_Bucket(tpm, self._clock) if tpm else None), True
        return changed

    async def wait(self, tokens: int = 0) -> float:
        """Wait until one request of `tokens` fits both rates; return seconds waited."""
        start = self._clock()
        while True:
            wanted = self._wanted(tokens)
            delay = max((b.wait_s(n) for b, n in wanted), default=0.0)
            if delay <= 0:
                for bucket, n in wanted:
                    await bucket.acquire(n)  # has capacity: returns without suspending
                return self._clock() - start
            await self._sleep(delay)

    def _wanted(self, tokens: int) -> list[tuple[_Bucket, float]]:
        wanted: list[tuple[_Bucket, float]] = []
        if self._requests is not None:
            wanted.append((self._requests, min(1.0, self._requests.max_rate)))
        if self._tokens is not None and tokens > 0:
            wanted.append((self._tokens, float(min(tokens, self._tokens.max_rate))))
        return wanted
