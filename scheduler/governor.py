"""One endpoint's governor: adaptive concurrency, cool-down gate and pacing, shared by lanes.

Control law. A provider has two kinds of limit, and each gets its own controller:

* Rate (RPM/TPM) is a token bucket, so it is *paced*: the `Pacer` spaces requests at
  `header_margin` (0.97) x the rate the server states in `x-ratelimit-*` headers, synced to
  the `remaining` it reports; or, without headers, at the rate the `RateLearner` infers from
  429s (what the server accepted between two 429s, probed upward with a growing step). A
  429 (`Verdict.throttled`) is a rate signal: with a learner it teaches the pace and leaves
  the concurrency limit alone, since a rate limit says nothing about how many may be in
  flight; without one (`learn_rate: false`) it cuts the limit like any drop (DESIGN §5).
* Capacity (how many requests the server serves at once) is a *concurrency limit*: AIMD
  (`AIMDLimit`) cut on a 503 or a timeout, at most once per window, grown per window of
  completions, braked when latency per output token rises (a queue is building).

Every 429/503 with a Retry-After closes the cool-down gate for that long; new requests and
retries wait at it holding nothing. Requests that passed the pacer before a rate appeared or
dropped (`Pacer.epoch`) are sent back to it.
"""

import asyncio
import math
import random
import time
from collections.abc import Callable
from typing import Any

from scheduler.attempt import AttemptClock
from scheduler.clock import Clock, Sleep
from scheduler.lane import Lane
from scheduler.limiter import Limiter
from scheduler.limits import Limit, LimitBase
from scheduler.observer import NullObserver, Observer
from scheduler.pacing import Pacer, RateLearner
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
        learner: RateLearner | None = None,
        pace_burst_s: float = 60.0,
        header_margin: float = 0.97,
    ) -> None:
        self.name, self.feedback, self.budget = name, feedback, budget
        self.observer: Observer = observer if observer is not None else NullObserver()
        self.clock, self.sleep = clock, sleep
        self.rng = rng if rng is not None else random.Random()
        self.gate_jitter, self.pace_from_headers = gate_jitter, pace_from_headers
        self.header_margin = header_margin
        self.pacer = Pacer(clock, sleep, rpm, tpm, burst_s=pace_burst_s)
        self.learner = learner
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
        """Pace from the limits the server states and sync to what remains.

        Without a stated limit to pace at, an exhausted `remaining` closes the gate until reset.
        """
        if not self.pace_from_headers:
            return
        stated_rpm, stated_tpm = self.pacer.stated
        rpm = _cap(self._rpm, self._margin(limits.limit_requests), stated_rpm)
        tpm = _cap(self._tpm, self._margin(limits.limit_tokens), stated_tpm)
        self.pacer.configure(rpm, tpm)
        self.pacer.observe(limits.remaining_requests, limits.remaining_tokens)
        for remaining, reset, paced in (
            (limits.remaining_requests, limits.reset_requests_s, rpm),
            (limits.remaining_tokens, limits.reset_tokens_s, tpm),
        ):
            if remaining == 0 and reset and not paced:
                self.cool_down(reset)

    def _margin(self, stated: int | None) -> float | None:
        # Pacing at exactly the stated rate over-sends whenever requests arrive in clumps.
        return None if stated is None else stated * self.header_margin

    def first_token(self, stage: str, attempt: AttemptClock) -> None:
        """An attempt of `stage` got its first token (`scheduler.mark_first_token`)."""
        hook = getattr(self._limit, "first_token", None)
        if hook is not None and attempt.ttft_s is not None:
            hook(stage, attempt.started_at, attempt.ttft_s)
            self._slots.refresh()

    def succeeded(self, sent_at: float) -> None:
        """A request sent at `sent_at` succeeded: feed the rate learner."""
        if self.learner is not None:
            before = self.learner.rate
            if self.learner.on_success(sent_at, self.clock()) != before:
                self.pacer.learn(self._rate_rpm())

    def throttled(self, sent_at: float, retry_after: float | None = None) -> bool:
        """A request sent at `sent_at` got a 429; return whether the rate learner took it."""
        if self.learner is None:
            return False
        old = self.learner.rate
        if self.learner.on_throttle(sent_at, self.clock(), retry_after) != old:
            self.pacer.learn(self._rate_rpm())
        return True

    def _rate_rpm(self) -> float | None:
        rate = self.learner.rate if self.learner is not None else None
        return None if rate is None else rate * 60.0

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


def _cap(configured: float | None, stated: float | None, current: float | None) -> float | None:
    if stated is None:
        return current
    return stated if configured is None else min(configured, stated)
