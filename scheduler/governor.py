"""One endpoint's governor: adaptive concurrency, cool-down gate and pacing, shared by lanes."""

import asyncio
import math
import random
import time
from collections.abc import Callable
from typing import Any

from scheduler.clock import Clock, Sleep
from scheduler.lane import Lane
from scheduler.limiter import Limiter
from scheduler.limits import Limit, LimitBase
from scheduler.observer import NullObserver, Observer
from scheduler.pacing import Pacer
from scheduler.retry import RetryBudget, RetryPolicy
from scheduler.verdict import Feedback, Kind, ServerLimits, Verdict

__all__ = ["Governor"]

_TIMEOUT = Verdict(Kind.DROP, "timeout")


def _no_feedback(result: Any) -> Feedback:
    return Feedback()


class Governor:
    """Shared by every stage calling one endpoint (base URL + model + key)."""

    def __init__(
        self,
        name: str,
        limit: Limit,
        classify: Callable[[BaseException], Verdict],
        feedback: Callable[[Any], Feedback] = _no_feedback,
        *,
        observer: Observer | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        rpm: float | None = None,
        tpm: float | None = None,
        gate_jitter: float = 0.1,
        budget: RetryBudget | None = None,
        pace_from_headers: bool = True,
    ) -> None:
        self.name, self.feedback, self.budget = name, feedback, budget
        self.observer: Observer = observer if observer is not None else NullObserver()
        self.clock, self.sleep = clock, sleep
        self.rng = rng if rng is not None else random.Random()
        self.gate_jitter, self.pace_from_headers = gate_jitter, pace_from_headers
        self.pacer = Pacer(clock, sleep, rpm, tpm)
        self._rpm, self._tpm = rpm, tpm
        self._limit, self._classify = limit, classify
        self._slots = Limiter(limit, clock)
        self._gate_until = -math.inf
        self._gate_closed = False
        if isinstance(limit, LimitBase):
            limit.subscribe(self._report_change)

    def lane(self, stage: str, ceiling: int, retry: RetryPolicy) -> Lane:
        """A lane for one stage, with its own ceiling and retry policy."""
        return Lane(self, stage, ceiling, retry)

    @property
    def limit(self) -> int:
        """Current adaptive concurrency limit."""
        return self._limit.limit

    @property
    def inflight(self) -> int:
        """Requests in flight across all lanes."""
        return self._slots.inflight

    @property
    def slots(self) -> Limiter:
        """The limiter holding the adaptive limit's slots."""
        return self._slots

    @property
    def gate_closed(self) -> bool:
        """Whether the cool-down gate is closed now."""
        return self._gate_until > self.clock()

    def verdict(self, exc: BaseException) -> Verdict:
        """Classify an attempt's exception; a per-attempt timeout is a drop."""
        return _TIMEOUT if isinstance(exc, TimeoutError) else self._classify(exc)

    def cool_down(self, seconds: float) -> None:
        """Close the gate for `seconds` plus jitter; extends, never shortens."""
        now = self.clock()
        until = now + seconds * (1 + self.gate_jitter * self.rng.random())
        if until > self._gate_until:
            self._gate_until, self._gate_closed = until, True
            self.observer.on_gate(self.name, True, until - now)

    def observe_limits(self, limits: ServerLimits) -> None:
        """Pace from the limits the server states; close the gate when it says none remain."""
        if not self.pace_from_headers:
            return
        rpm = _cap(self._rpm, limits.limit_requests, self.pacer.rpm)
        tpm = _cap(self._tpm, limits.limit_tokens, self.pacer.tpm)
        self.pacer.configure(rpm, tpm)
        for remaining, reset in (
            (limits.remaining_requests, limits.reset_requests_s),
            (limits.remaining_tokens, limits.reset_tokens_s),
        ):
            if remaining == 0 and reset:
                self.cool_down(reset)

    async def wait_gate(self, stage: str) -> None:
        """Wait, holding nothing, until the cool-down gate is open."""
        while (wait := self._gate_until - self.clock()) > 0:
            self.observer.on_wait(stage, "cooldown", wait)
            await self.sleep(wait)
        if self._gate_closed:
            self._gate_closed = False
            self.observer.on_gate(self.name, False, 0.0)

    def _report_change(self, old: int, new: int, reason: str) -> None:
        self.observer.on_limit_change(self.name, old, new, reason)


def _cap(configured: float | None, stated: int | None, current: float | None) -> float | None:
    if stated is None:
        return current
    return stated if configured is None else min(configured, stated)
