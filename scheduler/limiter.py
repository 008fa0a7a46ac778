"""An asyncio limiter owning concurrency slots; it feeds each outcome to a `Limit`."""

import asyncio
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType

from scheduler.clock import Clock
from scheduler.limits import Limit, Sample

__all__ = ["Limiter", "Permit"]


class Permit:
    """One held slot; report exactly one outcome, or leave the `async with` to ignore it."""

    __slots__ = ("_done", "_limiter", "acquired_at", "inflight")

    def __init__(self, limiter: "Limiter", acquired_at: float, inflight: int) -> None:
        self._limiter = limiter
        self.acquired_at = acquired_at
        self.inflight = inflight  # in flight when granted, this one included
        self._done = False

    def success(
        self,
        latency_s: float | None = None,
        output_tokens: int = 0,
        *,
        stage: str = "",
        ttft_s: float | None = None,
        input_tokens: int = 0,
    ) -> None:
        """Release the slot and feed a successful sample."""
        if self._done:
            return
        now, latency = self._close(latency_s)
        sample = Sample(
            now, latency, self.inflight, False, output_tokens, stage, ttft_s, input_tokens
        )
        self._limiter._release(sample)

    def dropped(self, *, stage: str = "", ttft_s: float | None = None) -> None:
        """Release the slot and feed a capacity signal (`ttft_s`: it was cut after its first
        token, so it was being served)."""
        if self._done:
            return
        now, latency = self._close(None)
        others = self._limiter.inflight - 1
        self._limiter._release(
            Sample(now, latency, self.inflight, True, stage=stage, ttft_s=ttft_s, others=others)
        )

    def ignored(self) -> None:
        """Release the slot without touching the limit."""
        if not self._done:
            self._done = True
            self._limiter._release(None)

    def _close(self, latency_s: float | None) -> tuple[float, float]:
        self._done = True
        now = self._limiter._clock()
        return now, now - self.acquired_at if latency_s is None else latency_s

    async def __aenter__(self) -> "Permit":
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.ignored()


class Limiter:
    """FIFO slots bounded by a `Limit` (or a callable giving the current limit)."""

    __slots__ = ("_clock", "_current", "_inflight", "_limit", "_waiters")

    def __init__(self, limit: Limit | Callable[[], int], clock: Clock = time.monotonic) -> None:
        self._limit = limit if not callable(limit) else None
        self._current: Callable[[], int] = limit if callable(limit) else (lambda: limit.limit)
        self._clock = clock
        self._inflight = 0
        self._waiters: deque[asyncio.Future[int]] = deque()

    @property
    def limit(self) -> int:
        """Current limit."""
        return self._current()

    @property
    def inflight(self) -> int:
        """Slots held now."""
        return self._inflight

    @property
    def waiting(self) -> int:
        """Tasks queued for a slot."""
        return sum(not f.done() for f in self._waiters)

    async def acquire(self) -> Permit:
        """Wait (FIFO) for a free slot and hold it."""
        if not self._waiters and self._inflight < self.limit:
            self._inflight += 1
            return Permit(self, self._clock(), self._inflight)
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        self._wake()  # cancelled waiters may be all that blocked the fast path
        try:
            inflight = await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self._release(None)  # granted, then cancelled: give the slot back
            raise
        return Permit(self, self._clock(), inflight)

    def refresh(self) -> None:
        """Wake waiters after the limit grew outside a sample."""
        self._wake()

    def _release(self, sample: Sample | None) -> None:
        self._inflight -= 1
        if sample is not None and self._limit is not None:
            self._limit.update(sample)
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._inflight < self.limit:
            fut = self._waiters.popleft()
            if not fut.done():
                self._inflight += 1  # granted now, so later arrivals cannot jump the queue
                fut.set_result(self._inflight)
