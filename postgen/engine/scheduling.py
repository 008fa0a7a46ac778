"""Rate, concurrency and retry composed in one place: settings in, a Governor out."""

from __future__ import annotations

from postgen.config import RetryConfig, SchedulerConfig, Settings, StageConfig
from postgen.llm.classify import feedback, verdict_for
from postgen.llm.client import streaming_reply_bound_s
from scheduler import (
    AIMDLimit,
    Breaker,
    DeliveryLimit,
    FixedLimit,
    Governor,
    LatencyBrake,
    Limit,
    Observer,
    RateLearner,
    RetryBudget,
    RetryPolicy,
)

__all__ = ["build_governor", "lane_hang_guard_s", "retry_policy"]


def build_governor(settings: Settings, observer: Observer, *, name: str | None = None) -> Governor:
    """One governor per endpoint, shared by every stage of the run."""
    sc = settings.scheduler
    return Governor(
        name or settings.llm.model or settings.llm.provider,
        _limit(settings, sc),
        verdict_for,
        feedback,
        observer=observer,
        rpm=sc.rpm,
        tpm=sc.tpm,
        gate_jitter=sc.gate_jitter,
        pace_burst_s=sc.pace_burst_s,
        budget=RetryBudget(
            ratio=sc.retry_budget,
            min_retries=sc.retry_budget_min,
            window_s=sc.retry_budget_window_s,
        ),
        pace_from_headers=sc.pace_from_headers and settings.parallel,
        learner=RateLearner() if settings.parallel and sc.learn_rate else None,
        max_wait_s=sc.max_wait_s,
        item_deadline_s=sc.item_deadline_s,
        breaker=Breaker(failures=sc.breaker_failures, seconds=sc.breaker_s),
        timeout_patience=sc.timeout_patience,
    )


def retry_policy(retry: RetryConfig, *, attempt_bound_s: float | None = None) -> RetryPolicy:
    """The lane's policy; `attempt_bound_s` replaces `retry.timeout_s` as its hang guard."""
    return RetryPolicy(
        attempts=retry.attempts,
        initial_backoff_s=retry.initial_backoff_s,
        max_backoff_s=retry.max_backoff_s,
        deadline_s=retry.deadline_s,
        timeout_s=retry.timeout_s if attempt_bound_s is None else attempt_bound_s,
    )


HANG_GUARD_GRACE_S = 5.0


def lane_hang_guard_s(settings: Settings, stage: StageConfig) -> float:
    """The lane's own per-attempt bound, behind the client's.

    The client bounds each attempt itself, so its timeout can name the setting: without
    streaming, `retry.timeout_s` from sending; with streaming, `llm.queue_timeout_s` for the
    server to start answering (a one-slot server queues inside itself), then the reply bound
    (`retry.timeout_s`, or 1 s per max_tokens when longer). The lane's bound only catches
    what slips past those, a few seconds later.
    """
    timeout = stage.retry.timeout_s
    if not settings.llm.stream:
        return timeout + HANG_GUARD_GRACE_S
    reply = streaming_reply_bound_s(timeout, stage.max_tokens)
    return settings.llm.queue_timeout_s + reply + HANG_GUARD_GRACE_S


def _limit(settings: Settings, sc: SchedulerConfig) -> Limit:
    if not settings.parallel:
        return FixedLimit(1)
    if sc.kind == "fixed":
        return FixedLimit(sc.maximum)
    if sc.law == "delivery":
        return DeliveryLimit(
            initial=sc.initial,
            minimum=sc.minimum,
            maximum=sc.maximum,
            tolerance=sc.queue_tolerance,
            gain=sc.bdp_gain,
            blind_period_s=sc.fast_start_period_s,
        )
    brake = (
        LatencyBrake(tolerance=sc.brake_tolerance, backoff=sc.brake_backoff)
        if sc.latency_brake
        else None
    )
    return AIMDLimit(
        initial=sc.initial,
        minimum=sc.minimum,
        maximum=sc.maximum,
        backoff=sc.backoff,
        brake=brake,
    )
