"""What a lane needs from the endpoint it calls through: a protocol, so lane.py does not import
governor.py (which builds lanes) and the two modules stay free of an import cycle."""

import random
from collections.abc import Callable
from typing import Any, Protocol

from scheduler.attempt import AttemptClock
from scheduler.clock import Clock, Sleep
from scheduler.limiter import Limiter, Permit
from scheduler.observer import Observer
from scheduler.pacing import Pacer
from scheduler.retry import RetryBudget
from scheduler.verdict import Feedback, Verdict

__all__ = ["Endpoint"]


class Endpoint(Protocol):
    """The governor as its lanes see it."""

    clock: Clock
    sleep: Sleep
    rng: random.Random
    observer: Observer
    budget: RetryBudget | None
    pacer: Pacer
    feedback: Callable[[Any], Feedback]
    item_deadline_s: float | None
    timeout_patience: float

    @property
    def slots(self) -> Limiter: ...

    @property
    def gate_closed(self) -> bool: ...

    @property
    def limit_adapts(self) -> bool: ...

    def verdict(self, exc: BaseException) -> Verdict: ...

    def check_alive(self) -> None: ...

    def progressed_since(self, t: float) -> bool: ...

    def slot_wanted(self) -> None: ...

    def start_attempt(self, stage: str) -> AttemptClock: ...

    def attempt_cancelled(self, attempt: AttemptClock, permit: Permit) -> None: ...

    def attempt_succeeded(
        self, stage: str, fb: Feedback, attempt: AttemptClock, permit: Permit, inflight: int
    ) -> None: ...

    def attempt_failed(
        self, stage: str, verdict: Verdict, attempt: AttemptClock, permit: Permit, inflight: int
    ) -> None: ...

    async def wait_gate(self, stage: str) -> None: ...

    async def retry_permit(self, stage: str) -> None: ...
