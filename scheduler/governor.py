"""One endpoint's governor: adaptive concurrency, pacing, cool-down gate, breaker; shared by lanes.

Control law (the concurrency part is `scheduler.control.DeliveryLimit`, whose docstring states
it in full; the older `AIMDLimit` still works here with its own semantics):

* Concurrency: the limit on requests in flight, fed every success (latency, stage, tokens,
  time to first token) and every refusal. Any refusal (429, 503, 529, timeout; with or
  without Retry-After) lowers it; a queue (latency above the unloaded latency of the same
  kind of request) drains it to what the server delivers.
* Rate: the `Pacer` spaces requests at `header_margin` (0.97) x a rate the server states in
  rate-limit headers, synced to the `remaining` it reports; or, told nothing, at the rate the
  `RateLearner` infers from refusals. With `DeliveryLimit` the learner takes a refusal that
  came at an in-flight level which had worked (`DeliveryLimit.rate_signal`: concurrency was
  not the cause), starting from the delivery rate just measured; so a bare 429 converges
  whether it meant a request rate or a concurrency cap. Lanes wait for the pacer after
  taking their slots, so the pacer spaces the sends themselves. While the pacer holds the
  rate (`DeliveryLimit.paced`, told the pace by `paced_at`) the learner also takes every
  refusal at arrival, since the limit follows the pace to levels that never worked.
* Waits: a Retry-After (or an exhausted limit's reset) closes the cool-down gate for that
  long; new requests and retries wait at it holding nothing. A wait beyond `max_wait_s`
  (default 300 s) is not obeyed silently: the attempt raises `WaitTooLong` and the run stops.
* Retries the client chooses (5xx, bare refusals) wait for the `RetryBudget`; it never
  fails them. An item gives up at its deadline (`item_deadline_s`, default 1800 s, unless
  the stage's policy sets one) or when the `Breaker` opens (default: 30 consecutive failed
  attempts spanning 60 s with no success): every call then raises `EndpointDown`.
* Waits on a refusal read as our own concurrency's overshoot (a cap), or on any 503/529 (an
  overloaded server, not a spent quota): its Retry-After delays that request's retry only;
  the gate stays open for the slots the server still serves.
* Time-driven control: while lanes wait for a slot, a ramp task ticks `DeliveryLimit.tick`
  at the law's `next_tick` (blind doubling while nothing came back, paced growth after first
  tokens, an overdue first token, probing on time after a cap's cut, the end of a cut's
  listening), re-armed when the law wants an earlier tick (also when an attempt goes out).
  Each attempt is announced to the law and the learner (`start_attempt`) and settled however
  it ends.
"""

import asyncio
import math
import random
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from scheduler.attempt import AttemptClock
from scheduler.clock import Clock, Sleep
from scheduler.control import DeliveryLimit
from scheduler.lane import Lane
from scheduler.limiter import Limiter, Permit
from scheduler.limits import Limit, LimitBase
from scheduler.observer import NullObserver, Observer
from scheduler.pacing import Pacer, RateLearner
from scheduler.retry import RetryBudget, RetryPolicy
from scheduler.stops import (
    QUOTA_SPENT,
    UNAVAILABLE,
    Breaker,
    EndpointDown,
    EndpointStop,
    WaitTooLong,
)
from scheduler.verdict import Feedback, Kind, ServerLimits, Verdict

__all__ = ["Governor"]

_TIMEOUT = Verdict(Kind.DROP, "timeout")
_STOP = Verdict(Kind.FATAL, "endpoint_stop")
_OK = Verdict(Kind.SUCCESS, "ok")


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
        max_wait_s: float = 300.0,
        item_deadline_s: float | None = 1800.0,
        breaker: Breaker | None = None,
        timeout_patience: float = 4.0,
    ) -> None:
        self.name, self.feedback, self.budget = name, feedback, budget
        self.observer: Observer = observer if observer is not None else NullObserver()
        self.clock, self.sleep = clock, sleep
        self.rng = rng if rng is not None else random.Random()
        self.gate_jitter, self.pace_from_headers = gate_jitter, pace_from_headers
        self.header_margin = header_margin
        self.max_wait_s, self.item_deadline_s = max_wait_s, item_deadline_s
        self.breaker = breaker if breaker is not None else Breaker()
        self.timeout_patience = max(1.0, timeout_patience)
        self.pacer = Pacer(clock, sleep, rpm, tpm, burst_s=pace_burst_s)
        self.learner = learner
        self._rpm, self._tpm = rpm, tpm
        self._limit, self._classify = limit, classify
        self._slots = Limiter(limit, clock)
        self._gate_until = -math.inf
        self._gate_closed = False
        self._last_success_at = -math.inf
        self._ramp: asyncio.Task[None] | None = None
        self._ramp_at = math.inf  # when the ramp task wakes next
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
    def limit_adapts(self) -> bool:
        """Whether refusals lower the limit (else a refused request's retry backs off in full)."""
        limit = self._limit
        return not (isinstance(limit, LimitBase) and limit.minimum == limit.maximum)

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
        if isinstance(exc, TimeoutError):
            return _TIMEOUT
        if isinstance(exc, EndpointStop):
            return _STOP
        return self._classify(exc)

    # --- waits -------------------------------------------------------------------------------

    def cool_down(
        self,
        seconds: float,
        *,
        source: str = "Retry-After",
        strict: bool = False,
        why: str = QUOTA_SPENT,
    ) -> None:
        """Close the gate for `seconds` plus jitter; extends, never shortens.

        Beyond `max_wait_s`: raise `WaitTooLong` when `strict` (a refusal asked for it),
        else wait `max_wait_s` (a success's headers said so; the next refusal will tell).
        """
        if seconds > self.max_wait_s:
            if strict:
                self.check_wait(seconds, source, why)
            seconds = self.max_wait_s
        now = self.clock()
        until = now + seconds * (1 + self.gate_jitter * self.rng.random())
        if until > self._gate_until:
            self._gate_until, self._gate_closed = until, True
            self.observer.on_gate(self.name, True, until - now)

    def check_wait(
        self, seconds: float, source: str = "Retry-After", why: str = QUOTA_SPENT
    ) -> None:
        """Raise `WaitTooLong` for a wait beyond `max_wait_s`."""
        if seconds > self.max_wait_s:
            raise WaitTooLong(self.name, seconds, self.max_wait_s, source, why)

    async def wait_gate(self, stage: str) -> None:
        """Wait, holding nothing, until the cool-down gate is open."""
        while (wait := self._gate_until - self.clock()) > 0:
            self.observer.on_wait(stage, "cooldown", wait)
            await self.sleep(wait)
        if self._gate_closed:
            self._gate_closed = False
            self.observer.on_gate(self.name, False, 0.0)

    async def retry_permit(self, stage: str) -> None:
        """Wait until the retry budget admits one more client-chosen retry, then spend it."""
        if self.budget is None:
            return
        while (wait := self.budget.wait_s()) > 0:
            self.observer.on_wait(stage, "budget", wait)
            await self.sleep(wait)
            self.check_alive()
        self.budget.spend()

    def check_alive(self) -> None:
        """Raise `EndpointDown` once the breaker has opened."""
        now = self.clock()
        if self.breaker.open(now):
            b = self.breaker
            raise EndpointDown(self.name, b.run, b.down_for(now), b.last)

    def progressed_since(self, t: float) -> bool:
        """Whether some request succeeded at or after `t`."""
        return self._last_success_at >= t

    # --- fast start on time ------------------------------------------------------------------

    def slot_wanted(self) -> None:
        """A lane is about to wait for a governor slot: let the limit grow on time if it may."""
        limit = self._limit
        if not isinstance(limit, DeliveryLimit) or self._slots.inflight < limit.limit:
            return
        limit.tick(self.clock(), self._slots.inflight)
        self._kick_ramp(limit)

    def _kick_ramp(self, limit: DeliveryLimit) -> None:
        """Keep a task ticking the limit while it may grow on time and lanes wait for it.

        A task asleep until a later tick (blind doubling's 3 s) is replaced when the law now
        wants an earlier one (paced growth after first tokens).
        """
        at = limit.next_tick()
        if at is None:
            return
        if self._ramp is not None:
            if at >= self._ramp_at:
                return
            self._ramp.cancel()
        self._ramp_at = at
        self._ramp = asyncio.get_running_loop().create_task(self._ramp_up(limit))

    async def _ramp_up(self, limit: DeliveryLimit) -> None:
        me = asyncio.current_task()
        try:
            while (at := limit.next_tick()) is not None and self._slots.waiting:
                self._ramp_at = at
                await self.sleep(max(0.0, at - self.clock()))
                limit.tick(self.clock(), self._slots.inflight)
                self._slots.refresh()
        finally:
            if self._ramp is me:  # not when a newer task replaced this one
                self._ramp = None

    # --- outcomes ----------------------------------------------------------------------------

    def start_attempt(self, stage: str) -> AttemptClock:
        """An attempt of `stage` goes out now: its clock, which reports its first token here."""
        attempt = AttemptClock(self.clock, partial(self.first_token, stage))
        if isinstance(self._limit, DeliveryLimit):
            listened_for = self._limit.dispatched(attempt.started_at)
            if listened_for and self._slots.waiting:  # a cut's one request: hear it on time
                self._kick_ramp(self._limit)
        if self.learner is not None:
            before = self.learner.rate
            if self.learner.on_send(attempt.started_at) != before:  # a probe step on time
                self._learned()
        return attempt

    def attempt_cancelled(self, attempt: AttemptClock, permit: Permit) -> None:
        """The attempt was cancelled: free its slot and tell the limit nothing."""
        self._settled(attempt)
        permit.ignored()

    def _settled(self, attempt: AttemptClock) -> None:
        if isinstance(self._limit, DeliveryLimit):
            self._limit.settled(attempt.started_at)

    def first_token(self, stage: str, attempt: AttemptClock) -> None:
        """An attempt of `stage` got its first token (`scheduler.mark_first_token`)."""
        hook = getattr(self._limit, "first_token", None)
        if hook is not None and attempt.ttft_s is not None:
            hook(stage, attempt.started_at, attempt.ttft_s)
            self._slots.refresh()
            if isinstance(self._limit, DeliveryLimit) and self._slots.waiting:
                self._kick_ramp(self._limit)

    def attempt_succeeded(
        self, stage: str, fb: Feedback, attempt: AttemptClock, permit: Permit, inflight: int
    ) -> None:
        """Feed a success to the limit, the learner, the breaker and the pacer."""
        now = self.clock()
        latency = now - attempt.started_at
        if attempt.ttft_s is None and fb.ttft_s is not None:  # reported only at the end
            attempt.ttft_s = fb.ttft_s
            self.first_token(stage, attempt)  # before it settles: it is no longer served
        self._settled(attempt)
        permit.success(
            latency,
            fb.output_tokens,
            stage=stage,
            ttft_s=attempt.ttft_s,
            input_tokens=fb.input_tokens,
        )
        self._last_success_at = now
        self.breaker.success(now)
        self.succeeded(attempt.started_at)
        if fb.limits is not None:
            self.observe_limits(fb.limits)
        self.observer.on_complete(stage, _OK, latency, inflight)

    def attempt_failed(
        self, stage: str, verdict: Verdict, attempt: AttemptClock, permit: Permit, inflight: int
    ) -> None:
        """Feed a failure; raise `WaitTooLong` for a refusal asking more than `max_wait_s`."""
        now = self.clock()
        sent_at = attempt.started_at
        self._settled(attempt)
        if verdict.kind in (Kind.DROP, Kind.RETRY):
            self.breaker.failure(now, verdict.reason)
        if verdict.kind is Kind.DROP:
            self._refused(stage, verdict, attempt, permit)
        permit.ignored()
        self.observer.on_complete(stage, verdict, now - sent_at, inflight)
        if verdict.limits is not None:
            self.observe_limits(verdict.limits)
        if verdict.kind is Kind.DROP and verdict.retry_after is not None:
            why = QUOTA_SPENT if verdict.throttled else UNAVAILABLE
            if self._pauses_everyone(verdict):
                self.cool_down(verdict.retry_after, strict=True, why=why)
            else:  # the refused request's retry waits for it; others need not
                self.check_wait(verdict.retry_after, why=why)

    def _pauses_everyone(self, verdict: Verdict) -> bool:
        """Whether the Retry-After of the refusal just fed to the limit closes the gate.

        Only a rate limit's (a 429, `throttled`) does. A 503's or 529's says the server is
        overloaded, which fewer requests in flight cure (the cut sees to that): at a cap
        answered 503 with Retry-After: 1, a refusal at the cap's edge misread as a rate
        closed the gate for a second at a time (one run in four or five at 2.3-2.6 x the
        bound). A capacity cap's Retry-After is about the request it refused: closing the
        gate for every request would idle the slots the server still serves (a whole second
        each time, with Azure's and Anthropic's whole-second values); so neither does a 429
        read as our concurrency's overshoot, nor one read as a rate only because it came in
        a storm, since a cap that moved (or was misjudged by one) looks the same, and the
        storm's halving and the pacer already slow everything down.
        """
        if not verdict.throttled:
            return False
        limit = self._limit
        overshoot = isinstance(limit, DeliveryLimit) and (not limit.rate_signal or limit.storm)
        return not overshoot

    def _refused(self, stage: str, verdict: Verdict, attempt: AttemptClock, permit: Permit) -> None:
        limit, sent_at = self._limit, attempt.started_at
        at_arrival = verdict.reason != "timeout" and attempt.ttft_s is None
        if self.learner is not None and at_arrival:
            self.learner.on_refused(sent_at)  # it took no token, whatever it is read as
        if isinstance(limit, DeliveryLimit):
            paced = limit.paced
            permit.dropped(stage=stage, ttft_s=attempt.ttft_s)  # every refusal lowers it ...
            # ... and one at a level that had worked teaches the pace; so does any refused at
            # arrival while the pacer holds the rate (the limit follows the pace to levels
            # that never worked).
            if limit.rate_signal or (paced and at_arrival):
                delivered = limit.recent_rate(self.clock())
                self.throttled(sent_at, verdict.retry_after, delivered, limit.rate_floor())
            return
        # AIMD semantics: a 429 teaches the learner instead of cutting, if there is one.
        if not (verdict.throttled and self.throttled(sent_at, verdict.retry_after)):
            permit.dropped(stage=stage)

    def observe_limits(self, limits: ServerLimits) -> None:
        """Pace from the limits the server states and sync to what remains.

        Without a stated limit to pace at, an exhausted `remaining` closes the gate until reset.
        """
        if not self.pace_from_headers:
            return
        stated_rpm, stated_tpm = self.pacer.stated
        rpm = _cap(self._rpm, self._margin(limits.limit_requests), stated_rpm)
        tpm = _cap(self._tpm, self._margin(limits.limit_tokens), stated_tpm)
        if self.pacer.configure(rpm, tpm):
            self._tell_pace()
        self.pacer.observe(limits.remaining_requests, limits.remaining_tokens)
        for remaining, reset, paced in (
            (limits.remaining_requests, limits.reset_requests_s, rpm),
            (limits.remaining_tokens, limits.reset_tokens_s, tpm),
        ):
            if remaining == 0 and reset and not paced:
                self.cool_down(reset, source="rate-limit reset")

    def _margin(self, stated: int | None) -> float | None:
        # Pacing at exactly the stated rate over-sends whenever requests arrive in clumps.
        return None if stated is None else stated * self.header_margin

    def succeeded(self, sent_at: float) -> None:
        """A request sent at `sent_at` succeeded: feed the rate learner."""
        if self.learner is not None:
            before = self.learner.rate
            if self.learner.on_success(sent_at, self.clock()) != before:
                self._learned()

    def throttled(
        self,
        sent_at: float,
        retry_after: float | None = None,
        delivered: float | None = None,
        least: float | None = None,
    ) -> bool:
        """A request sent at `sent_at` was refused; return whether the rate learner took it."""
        if self.learner is None:
            return False
        old = self.learner.rate
        now = self.clock()
        if self.learner.on_throttle(sent_at, now, retry_after, delivered, least) != old:
            self._learned()
        return True

    def _learned(self) -> None:
        """The learner's rate changed: pace at it, and tell the limit the pace."""
        self.pacer.learn(self._rate_rpm())
        self._tell_pace()

    def _tell_pace(self) -> None:
        if isinstance(self._limit, DeliveryLimit):
            rpm = self.pacer.rpm
            self._limit.paced_at(None if rpm is None else rpm / 60.0)

    def _rate_rpm(self) -> float | None:
        rate = self.learner.rate if self.learner is not None else None
        return None if rate is None else rate * 60.0

    def _report_change(self, old: int, new: int, reason: str) -> None:
        self.observer.on_limit_change(self.name, old, new, reason)


def _cap(configured: float | None, stated: float | None, current: float | None) -> float | None:
    if stated is None:
        return current
    return stated if configured is None else min(configured, stated)
