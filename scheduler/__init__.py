"""Adaptive concurrency, pacing and retries for many parallel calls to a rate-limited API.

Generic: pure stdlib + tenacity + aiolimiter. Time and randomness are injected everywhere.
"""

from scheduler.attempt import mark_first_token
from scheduler.clock import Clock, Sleep
from scheduler.control import DeliveryLimit
from scheduler.governor import Governor
from scheduler.lane import Lane
from scheduler.limiter import Limiter, Permit
from scheduler.limits import (
    AIMDLimit,
    FixedLimit,
    LatencyBrake,
    Limit,
    LimitBase,
    LimitListener,
    Sample,
)
from scheduler.observer import MultiObserver, NullObserver, Observer
from scheduler.ordered import OrderedResult, run_ordered
from scheduler.pacing import ClockBucket, LimiterBucket, Pacer, RateLearner
from scheduler.retry import RetriesExhausted, RetryBudget, RetryPolicy
from scheduler.stops import Breaker, EndpointDown, EndpointStop, WaitTooLong
from scheduler.verdict import Feedback, Kind, ServerLimits, Verdict

__all__ = [
    "AIMDLimit",
    "Breaker",
    "Clock",
    "ClockBucket",
    "DeliveryLimit",
    "EndpointDown",
    "EndpointStop",
    "Feedback",
    "FixedLimit",
    "Governor",
    "Kind",
    "Lane",
    "LatencyBrake",
    "Limit",
    "LimitBase",
    "LimitListener",
    "Limiter",
    "LimiterBucket",
    "MultiObserver",
    "NullObserver",
    "Observer",
    "OrderedResult",
    "Pacer",
    "Permit",
    "RateLearner",
    "RetriesExhausted",
    "RetryBudget",
    "RetryPolicy",
    "Sample",
    "ServerLimits",
    "Sleep",
    "Verdict",
    "WaitTooLong",
    "mark_first_token",
    "run_ordered",
]
