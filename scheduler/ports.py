"""What a lane needs from the endpoint it calls through: a protocol, so lane.py does not import
governor.py (which builds lanes) and the two modules stay free of an import cycle."""

import random
from collections.abc import Callable
from typing import Any, Protocol

from scheduler.attempt import AttemptClock
from scheduler.clock import Clock, Sleep
from scheduler.limiter import Limiter
from scheduler.observer import Observer
from scheduler.pacing import Pacer
from scheduler.retry import RetryBudget
from scheduler.verdict import Feedback, ServerLimits, Verdict

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

    @property
    def slots(self) -> Limiter: ...

    @property
    def gate_closed(self) -> bool: ...

    def verdict(self, exc: BaseException) -> Verdict: ...

    def cool_down(self, seconds: float) -> None: ...

    def observe_limits(self, limits: ServerLimits) -> None: ...

    def succeeded(self, sent_at: float) -> None: ...

    def throttled(self, sent_at: float, retry_after: float | None = None) -> bool: ...

    def first_token(self, stage: str, attempt: AttemptClock) -> None: ...

    async def wait_gate(self, stage: str) -> None: ...
