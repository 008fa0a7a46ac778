"""A lane: one stage's calls through a governor, with its own ceiling and retry policy.

Each attempt: check the endpoint is alive; a retry the client chose waits for the retry
budget (it is delayed, never failed); wait for the cool-down gate holding nothing, take a
lane slot (ceiling) then a governor slot (adaptive limit), then wait for the pacers holding
them, so the pacer spaces the sends themselves; if the gate closed meanwhile, give both back
and start over. Run `fn` under a timeout on the injected clock (extended while the attempt
is queued behind others the endpoint keeps completing), with the attempt's clock in a
context variable so `scheduler.mark_first_token` can report time to first token. Release
both slots and tell the governor the outcome. Backoff sleeps (tenacity) happen between
attempts, holding no slot.

Refusals (429/503/529/timeouts) are retried until the item's deadline and never count
against `RetryPolicy.attempts`, which bounds the other retryable failures.
"""

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from scheduler.attempt import AttemptClock, current_attempt
from scheduler.limiter import Limiter, Permit
from scheduler.ports import Endpoint
from scheduler.retry import (
    FullJitter,
    RetriesExhausted,
    RetryPolicy,
    StopAfterDeadline,
    StopAfterFailures,
    draws_on_budget,
)
from scheduler.verdict import Kind, Verdict

__all__ = ["Lane"]

T = TypeVar("T")
_OK = Verdict(Kind.SUCCESS, "ok")


class _Call:
    """One logical request's state between tenacity's callbacks and its attempts."""

    __slots__ = ("budget_owed",)

    def __init__(self) -> None:
        self.budget_owed = False  # the next attempt is a retry the budget must admit


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
        """One logical request with retries; FAIL, FATAL and endpoint stops raise as is."""
        gov = self._gov
        gov.check_alive()
        if gov.budget is not None:
            gov.budget.record_attempt()
        deadline_s = self.retry.deadline_s
        deadline = StopAfterDeadline(
            gov.clock, gov.clock(), gov.item_deadline_s if deadline_s is None else deadline_s
        )
        state = _Call()

        def give_up(rs: RetryCallState) -> None:
            exc = rs.outcome.exception() if rs.outcome else None
            verdict = gov.verdict(exc) if exc is not None else None
            raise RetriesExhausted(self.stage, rs.attempt_number, exc, verdict) from exc

        retrying = AsyncRetrying(
            sleep=gov.sleep,
            stop=StopAfterFailures(self.retry.attempts, gov.verdict) | deadline,
            wait=FullJitter(self.retry, gov.rng, gov.verdict, limit_adapts=gov.limit_adapts),
            retry=retry_if_exception(self._retryable),
            before_sleep=partial(self._before_sleep, state),
            retry_error_callback=give_up,
        )
        result: T = await retrying(self._attempt, fn, est_tokens, deadline.remaining, state)
        return result

    async def call_with_fallback(self, fn: Callable[[], Awaitable[T]], *, est_tokens: int = 0) -> T:
        """Like `call`, then one serialised last attempt if retries ran out."""
        try:
            return await self.call(fn, est_tokens=est_tokens)
        except RetriesExhausted as first:
            async with self._fallback:
                try:
                    return await self._attempt(fn, est_tokens, lambda: None, _Call())
                except Exception as exc:
                    verdict = self._gov.verdict(exc)
                    if not verdict.retryable:
                        raise
                    raise RetriesExhausted(self.stage, first.attempts + 1, exc, verdict) from exc

    async def _attempt(
        self,
        fn: Callable[[], Awaitable[T]],
        est_tokens: int,
        remaining: Callable[[], float | None],
        state: _Call,
    ) -> T:
        gov = self._gov
        gov.check_alive()
        if state.budget_owed:
            await gov.retry_permit(self.stage)
            state.budget_owed = False
        lane_permit, gov_permit = await self._take_slots(est_tokens)
        self._running += 1
        gov.observer.on_dispatch(self.stage, self.inflight)
        attempt = gov.start_attempt(self.stage)
        token = current_attempt().set(attempt)
        try:
            result = await self._timed(fn, attempt, remaining())
            feedback = gov.feedback(result)
        except Exception as exc:
            self._running -= 1
            lane_permit.ignored()
            gov.attempt_failed(self.stage, gov.verdict(exc), attempt, gov_permit, self.inflight)
            raise
        except BaseException:  # cancelled: free the slots, tell the limit nothing
            self._running -= 1
            gov.attempt_cancelled(attempt, gov_permit)
            lane_permit.ignored()
            raise
        finally:
            current_attempt().reset(token)
        self._running -= 1
        lane_permit.ignored()
        gov.attempt_succeeded(self.stage, feedback, attempt, gov_permit, self.inflight)
        return result

    async def _take_slots(self, est_tokens: int) -> tuple[Permit, Permit]:
        gov, obs = self._gov, self._gov.observer
        while True:
            await gov.wait_gate(self.stage)
            t0 = gov.clock()
            lane_permit = await self._slots.acquire()
            try:
                gov.slot_wanted()
                gov_permit = await gov.slots.acquire()
            except BaseException:
                lane_permit.ignored()
                raise
            if (waited := gov.clock() - t0) > 0:
                obs.on_wait(self.stage, "slot", waited)
            # Paced last, holding the slots, so the pacer spaces the sends themselves. Paced
            # before the slots, requests queued for a slot after the pacer let them through
            # and left together whenever replies freed slots together: clumps that a strict
            # bucket (one request, nginx's `limit_req`) refuses all but one of.
            try:
                if (paced := await gov.pacer.wait(est_tokens)) > 0:
                    obs.on_wait(self.stage, "pacing", paced)
            except BaseException:
                gov_permit.ignored()
                lane_permit.ignored()
                raise
            if not gov.gate_closed:
                return lane_permit, gov_permit
            # The gate closed while we were paced: wait again holding nothing.
            gov_permit.ignored()
            lane_permit.ignored()

    async def _timed(
        self, fn: Callable[[], Awaitable[T]], attempt: AttemptClock, remaining: float | None
    ) -> T:
        timeout = self.retry.timeout_s
        if timeout is None and (remaining is None or remaining <= 0):
            return await fn()
        async with asyncio.timeout(None) as cm:
            timer = asyncio.create_task(self._expire(cm, attempt, timeout, remaining))
            try:
                return await fn()
            finally:
                timer.cancel()

    async def _expire(
        self,
        cm: asyncio.Timeout,
        attempt: AttemptClock,
        timeout_s: float | None,
        remaining: float | None,
    ) -> None:
        """Time the attempt out on the injected clock, unlike asyncio.timeout's own.

        A queued request is not a hung one: while it has no first token and the endpoint
        completed another request within the last `timeout` seconds, the timeout is pushed
        back by `timeout`, up to `timeout_patience` x `timeout` in all (and never past the
        item's deadline). So a queueing server's queue time never becomes a timeout and a
        thrown-away generation.
        """
        gov, start = self._gov, attempt.started_at
        hard = start + (remaining if remaining is not None and remaining > 0 else float("inf"))
        if timeout_s is not None:
            hard = min(hard, start + timeout_s * gov.timeout_patience)
        end = min(hard, start + (timeout_s if timeout_s is not None else float("inf")))
        while True:
            await gov.sleep(max(0.0, end - gov.clock()))
            now = gov.clock()
            queued = attempt.ttft_s is None and timeout_s is not None
            if queued and now < hard and gov.progressed_since(now - (timeout_s or 0.0)):
                end = min(hard, now + (timeout_s or 0.0))
                continue
            break
        cm.reschedule(asyncio.get_running_loop().time())

    def _retryable(self, exc: BaseException) -> bool:
        return isinstance(exc, Exception) and self._gov.verdict(exc).retryable

    def _before_sleep(self, state: _Call, rs: RetryCallState) -> None:
        gov = self._gov
        if gov.budget is not None and draws_on_budget(rs, gov.verdict):
            state.budget_owed = True  # the retry waits for the budget, holding nothing
        exc = rs.outcome.exception() if rs.outcome else None
        reason = gov.verdict(exc).reason if exc is not None else "unknown"
        wait = rs.next_action.sleep if rs.next_action else 0.0
        gov.observer.on_retry(self.stage, rs.attempt_number, reason, wait)
