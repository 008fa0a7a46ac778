"""Retry policy, retry budget and the tenacity strategies the lanes are built from."""

import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from tenacity import RetryCallState
from tenacity.stop import stop_base
from tenacity.wait import wait_exponential

from scheduler.clock import Clock
from scheduler.verdict import Kind, Verdict

__all__ = [
    "FullJitter",
    "RetriesExhausted",
    "RetryBudget",
    "RetryPolicy",
    "StopAfterDeadline",
    "StopAfterFailures",
    "StopWhenBroke",
    "draws_on_budget",
]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a stage retries: attempts, full-jitter backoff, overall deadline, per-attempt timeout.

    `attempts` bounds failures other than refusals (5xx, unreachable, bad output): a refusal
    (429/503/529/timeout) is a signal to slow down and is retried until `deadline_s` (None:
    the governor's item deadline), never counted against `attempts`.
    """

    attempts: int = 6
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    deadline_s: float | None = None
    timeout_s: float | None = 60.0
    drop_backoff_s: float = 0.05  # cap after a refusal without Retry-After, if the limit adapts


class RetriesExhausted(Exception):
    """A retryable failure outlived its attempts or deadline."""

    def __init__(
        self, stage: str, attempts: int, last: BaseException | None, verdict: Verdict | None
    ) -> None:
        reason = verdict.reason if verdict else "unknown"
        super().__init__(f"{stage}: gave up after {attempts} attempt(s), last: {reason}")
        self.stage, self.attempts, self.last, self.verdict = stage, attempts, last, verdict


class RetryBudget:
    """Retries allowed in a sliding window: `min_retries + ratio * first attempts`.

    It throttles the retries of failures that are not refusals (500s, refused connections, bad
    output): those multiply traffic to a sick endpoint. A retry that does not fit waits until
    it does (`wait_s`); the budget never fails an item. Refusals (429/503/529/timeouts, with
    or without Retry-After) do not spend it: the control law already slows their retries (see
    `draws_on_budget`).
    """

    __slots__ = ("_clock", "_firsts", "_retries", "min_retries", "ratio", "window_s")

    def __init__(
        self,
        ratio: float = 0.2,
        min_retries: int = 10,
        clock: Clock = time.monotonic,
        window_s: float = 60.0,
    ) -> None:
        self.ratio, self.min_retries, self.window_s = ratio, min_retries, window_s
        self._clock = clock
        self._firsts: deque[float] = deque()
        self._retries: deque[float] = deque()

    def record_attempt(self) -> None:
        """Count the first attempt of one logical request."""
        self._firsts.append(self._clock())

    def can_retry(self) -> bool:
        """Whether one more retry fits the budget."""
        self._trim()
        return len(self._retries) < self.min_retries + self.ratio * len(self._firsts)

    def wait_s(self) -> float:
        """Seconds until one more retry fits (0 when it fits now)."""
        if self.can_retry():
            return 0.0
        oldest = self._retries[0] if self._retries else self._clock()
        return max(0.05, oldest + self.window_s - self._clock())

    def spend(self) -> None:
        """Count one retry."""
        self._retries.append(self._clock())

    def _trim(self) -> None:
        horizon = self._clock() - self.window_s
        for q in (self._firsts, self._retries):
            while q and q[0] < horizon:
                q.popleft()


class FullJitter(wait_exponential):
    """Full-jitter exponential backoff, but never shorter than the server's Retry-After.

    Behind an adaptive limit (`limit_adapts`), a refusal (429, 503, timeout) has already cut
    the concurrency limit (and taught the pacer), and the retry queues for a slot of that
    smaller limit: the cut is the backoff, so the timer is capped at `drop_backoff_s` (a
    sleeping retry would otherwise be the run's tail). Behind a fixed limit (sequential
    runs, `scheduler.kind=fixed`) nothing else slows the retry down, so it backs off in
    full like any failure: capped there, a bare 429 was retried 20 times a second. With a
    Retry-After, that wait is the timer: the server said when to come back.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        rng: random.Random,
        verdict: Callable[[BaseException], Verdict],
        *,
        limit_adapts: bool = True,
    ) -> None:
        super().__init__(multiplier=policy.initial_backoff_s, max=policy.max_backoff_s)
        self._rng, self._verdict = rng, verdict
        self._drop_cap = policy.drop_backoff_s if limit_adapts else None

    def __call__(self, retry_state: RetryCallState) -> float:
        ceiling = super().__call__(retry_state)
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        v = self._verdict(exc) if isinstance(exc, Exception) else None
        if v is not None and v.kind is Kind.DROP and self._drop_cap is not None:
            ceiling = min(ceiling, self._drop_cap)
        jitter = self._rng.uniform(0, ceiling)
        return max(jitter, (v.retry_after if v else None) or 0.0)


class StopAfterDeadline(stop_base):
    """Stop when the next attempt would start after `deadline_s` on the injected clock."""

    def __init__(self, clock: Clock, start: float, deadline_s: float | None) -> None:
        self._clock, self._start, self._deadline = clock, start, deadline_s

    def __call__(self, retry_state: RetryCallState) -> bool:
        if self._deadline is None:
            return False
        return self._clock() - self._start + retry_state.upcoming_sleep >= self._deadline

    def remaining(self) -> float | None:
        """Seconds left before the deadline, or None without one."""
        return None if self._deadline is None else self._deadline - (self._clock() - self._start)


class StopAfterFailures(stop_base):
    """Stop after `attempts` failures that are not refusals (DROPs never count).

    One instance per logical request: it counts that request's failures.
    """

    def __init__(self, attempts: int, verdict: Callable[[BaseException], Verdict]) -> None:
        self._attempts, self._verdict = attempts, verdict
        self.failures = 0

    def __call__(self, retry_state: RetryCallState) -> bool:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, Exception) and self._verdict(exc).kind is Kind.DROP:
            return False
        self.failures += 1
        return self.failures >= self._attempts


class StopWhenBroke(stop_base):
    """Stop when the retry budget is spent and the failure is one the budget bounds."""

    def __init__(
        self, budget: RetryBudget | None, verdict: Callable[[BaseException], Verdict]
    ) -> None:
        self._budget, self._verdict = budget, verdict

    def __call__(self, retry_state: RetryCallState) -> bool:
        if self._budget is None or not draws_on_budget(retry_state, self._verdict):
            return False
        return not self._budget.can_retry()


def draws_on_budget(state: RetryCallState, verdict: Callable[[BaseException], Verdict]) -> bool:
    """Whether retrying this attempt's failure spends the retry budget.

    Only failures that are not refusals do (5xx, unreachable, bad output): they leave the
    concurrency limit and the pace alone, so their retries would multiply traffic to a sick
    endpoint. A refusal's retry is already bounded by the control law (every refusal lowers
    the limit and the pace, and the retry waits for both), so throttling it again would only
    slow a run that the server is serving.
    """
    exc = state.outcome.exception() if state.outcome else None
    return isinstance(exc, Exception) and verdict(exc).kind is Kind.RETRY
