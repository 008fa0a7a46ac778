"""A lane: one stage's calls through a governor, with its own ceiling and retry policy.

Each attempt: wait for the cool-down gate holding nothing, wait for the pacers, take a lane
slot (ceiling) then a governor slot (adaptive limit); if the gate closed or the paced rate
dropped meanwhile, give both back and start over. Run `fn` under a timeout on the injected
clock, release both slots and feed the limit (success, drop, or ignored for RETRY/FAIL/FATAL;
a throttled 429 teaches the governor's rate learner instead of cutting the limit), report to
the observer. Backoff sleeps (tenacity) happen between attempts, holding no slot; the retry
budget bounds only retries the client chooses (not server-paced 429/503s with Retry-After).
"""

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from scheduler.attempt import AttemptClock, current_attempt
from scheduler.limiter import Limiter, Permit
from scheduler.ports import Endpoint
from scheduler.retry import (
    FullJitter,
    RetriesExhausted,
    RetryPolicy,
    StopAfterDeadline,
    StopWhenBroke,
    draws_on_budget,
)
from scheduler.verdict import Kind, Verdict

__all__ = ["Lane"]

T = TypeVar("T")
_OK = Verdict(Kind.SUCCESS, "ok")


class Lane:
    """Runs one stage's logical requests: gate, pacing, slots, timeout, retries."""

    def __init__(self, governor: Endpoint, stage: str, ceiling: int, retry: RetryPolicy) -> None:
        self.stage, self.retry = stage, retry
        self._gov = governor
        self._ceiling = ceiling
        self._slots = Limiter(lambda: self._ceiling, governor.clock)
        self._fallback = asyncio.Lock()
        self._running = 0  # dispatched; lane slots also cover requests queued for the governor

    @property
    def ceiling(self) -> int:
        """Most requests this stage may have in flight."""
        return self._ceiling

    @ceiling.setter
    def ceiling(self, value: int) -> None:
        self._ceiling = value
        self._slots.refresh()

    @property
    def inflight(self) -> int:
        """This stage's requests in flight."""
        return self._running

    async def call(self, fn: Callable[[], Awaitable[T]], *, est_tokens: int = 0) -> T:
        """One logical request with retries; FAIL, FATAL and a spent budget raise as is."""
        gov = self._gov
        if gov.budget is not None:
            gov.budget.record_attempt()
        deadline = StopAfterDeadline(gov.clock, gov.clock(), self.retry.deadline_s)

        def give_up(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            if state.attempt_number < self.retry.attempts and not deadline(state):
                raise exc or RuntimeError("retry budget spent")  # budget: fail as is
            verdict = gov.verdict(exc) if exc is not None else None
            raise RetriesExhausted(self.stage, state.attempt_number, exc, verdict) from exc

        retrying = AsyncRetrying(
            sleep=gov.sleep,
            stop=stop_after_attempt(self.retry.attempts)
            | deadline
            | StopWhenBroke(gov.budget, gov.verdict),
            wait=FullJitter(self.retry, gov.rng, gov.verdict),
            retry=retry_if_exception(self._retryable),
            before_sleep=self._before_sleep,
            retry_error_callback=give_up,
        )
        result: T = await retrying(self._attempt, fn, est_tokens, deadline.remaining)
        return result

    async def call_with_fallback(self, fn: Callable[[], Awaitable[T]], *, est_tokens: int = 0) -> T:
        """Like `call`, then one serialised last attempt if retries ran out."""
        try:
            return await self.call(fn, est_tokens=est_tokens)
        except RetriesExhausted as first:
            async with self._fallback:
                try:
                    return await self._attempt(fn, est_tokens, lambda: None)
                except Exception as exc:
                    verdict = self._gov.verdict(exc)
                    if not verdict.retryable:
                        raise
                    raise RetriesExhausted(self.stage, first.attempts + 1, exc, verdict) from exc

    async def _attempt(
        self, fn: Callable[[], Awaitable[T]], est_tokens: int, remaining: Callable[[], float | None]
    ) -> T:
        gov = self._gov
        lane_permit, gov_permit = await self._take_slots(est_tokens)
        self._running += 1
        gov.observer.on_dispatch(self.stage, self.inflight)
        attempt = AttemptClock(gov.clock, partial(gov.first_token, self.stage))
        start = attempt.started_at
        token = current_attempt().set(attempt)
        try:
            result = await self._timed(fn, _min(self.retry.timeout_s, remaining()))
            feedback = gov.feedback(result)
        except Exception as exc:
            self._running -= 1
            self._settle_error(exc, start, lane_permit, gov_permit)
            raise
        except BaseException:  # cancelled: free the slots, tell the limit nothing
            self._running -= 1
            gov_permit.ignored()
            lane_permit.ignored()
            raise
        finally:
            current_attempt().reset(token)
        self._running -= 1
        latency = gov.clock() - start
        gov_permit.success(latency, feedback.output_tokens)
        lane_permit.success(latency, feedback.output_tokens)
        gov.succeeded(start)
        if feedback.limits is not None:
            gov.observe_limits(feedback.limits)
        gov.observer.on_complete(self.stage, _OK, latency, self.inflight)
        return result

    async def _take_slots(self, est_tokens: int) -> tuple[Permit, Permit]:
        gov, obs = self._gov, self._gov.observer
        while True:
            await gov.wait_gate(self.stage)
            if (paced := await gov.pacer.wait(est_tokens)) > 0:
                obs.on_wait(self.stage, "pacing", paced)
            epoch = gov.pacer.epoch
            t0 = gov.clock()
            lane_permit = await self._slots.acquire()
            try:
                gov_permit = await gov.slots.acquire()
            except BaseException:
                lane_permit.ignored()
                raise
            if (waited := gov.clock() - t0) > 0:
                obs.on_wait(self.stage, "slot", waited)
            if not gov.gate_closed and gov.pacer.epoch == epoch:
                return lane_permit, gov_permit
            # The gate closed or the rate dropped while we queued: wait again holding nothing.
            gov_permit.ignored()
            lane_permit.ignored()

    async def _timed(self, fn: Callable[[], Awaitable[T]], limit_s: float | None) -> T:
        if limit_s is None:
            return await fn()
        async with asyncio.timeout(None) as cm:
            timer = asyncio.create_task(self._expire(cm, limit_s))
            try:
                return await fn()
            finally:
                timer.cancel()

    async def _expire(self, cm: asyncio.Timeout, after_s: float) -> None:
        await self._gov.sleep(after_s)  # on the injected clock, unlike asyncio.timeout's own
        cm.reschedule(asyncio.get_running_loop().time())

    def _settle_error(self, exc: Exception, start: float, lane: Permit, gov: Permit) -> None:
        verdict = self._gov.verdict(exc)
        latency = self._gov.clock() - start
        if verdict.kind is Kind.DROP and not (
            verdict.throttled and self._gov.throttled(start, verdict.retry_after)
        ):
            gov.dropped()  # a capacity signal; a 429 teaches the rate learner instead, if any
        gov.ignored()
        lane.ignored()
        self._gov.observer.on_complete(self.stage, verdict, latency, self.inflight)
        if verdict.limits is not None:
            self._gov.observe_limits(verdict.limits)
        if verdict.kind is Kind.DROP and verdict.retry_after is not None:
            self._gov.cool_down(verdict.retry_after)

    def _retryable(self, exc: BaseException) -> bool:
        return isinstance(exc, Exception) and self._gov.verdict(exc).retryable

    def _before_sleep(self, state: RetryCallState) -> None:
        gov = self._gov
        if gov.budget is not None and draws_on_budget(state, gov.verdict):
            gov.budget.spend()
        exc = state.outcome.exception() if state.outcome else None
        reason = gov.verdict(exc).reason if exc is not None else "unknown"
        wait = state.next_action.sleep if state.next_action else 0.0
        gov.observer.on_retry(self.stage, state.attempt_number, reason, wait)


def _min(timeout: float | None, remaining: float | None) -> float | None:
    if remaining is None or remaining <= 0:
        return timeout  # no deadline, or a gate pushed us past it: keep the attempt's own
    return remaining if timeout is None else min(timeout, remaining)
