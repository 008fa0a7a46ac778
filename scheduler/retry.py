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
from scheduler.verdict import Verdict

__all__ = ["RetriesExhausted", "RetryBudget", "RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a stage retries: attempts, full-jitter backoff, overall deadline, per-attempt timeout."""

    attempts: int = 6
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    deadline_s: float | None = None
    timeout_s: float | None = 60.0


class RetriesExhausted(Exception):
    """A retryable failure outlived its attempts or deadline."""

    def __init__(
        self, stage: str, attempts: int, last: BaseException | None, verdict: Verdict | None
    ) -> None:
        reason = verdict.reason if verdict else "unknown"
        super().__init__(f"{stage}: gave up after {attempts} attempt(s), last: {reason}")
        self.stage, self.attempts, self.last, self.verdict = stage, attempts, last, verdict


class RetryBudget:
    """Retries allowed in a sliding window: `min_retries + ratio * first attempts`."""

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

    def spend(self) -> None:
        """Count one retry."""
        self._retries.append(self._clock())

    def _trim(self) -> None:
        horizon = self._clock() - self.window_s
        for q in (self._firsts, self._retries):
            while q and q[0] < horizon:
                q.popleft()


class _FullJitter(wait_exponential):
    """Full-jitter exponential backoff, but never shorter than the server's Retry-After."""

    def __init__(
        self, policy: RetryPolicy, rng: random.Random, verdict: Callable[[BaseException], Verdict]
    ) -> None:
        super().__init__(multiplier=policy.initial_backoff_s, max=policy.max_backoff_s)
        self._rng, self._verdict = rng, verdict

    def __call__(self, retry_state: RetryCallState) -> float:
        jitter = self._rng.uniform(0, super().__call__(retry_state))
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        after = self._verdict(exc).retry_after if isinstance(exc, Exception) else None
        return max(jitter, after or 0.0)


class _StopAfterDeadline(stop_base):
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


class _StopWhenBroke(stop_base):
    """Stop when the retry budget is spent."""

    def __init__(self, budget: RetryBudget | None) -> None:
        self._budget = budget

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self._budget is not None and not self._budget.can_retry()
