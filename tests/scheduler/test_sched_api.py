"""The public surface is deliberate: pin it."""

from pathlib import Path

import scheduler


def test_public_names() -> None:
    assert scheduler.__all__ == sorted(scheduler.__all__)
    assert set(scheduler.__all__) == {
        "AIMDLimit", "Breaker", "Clock", "ClockBucket", "DeliveryLimit", "EndpointDown",
        "EndpointStop", "Feedback", "FixedLimit", "Governor", "Kind", "Lane", "LatencyBrake",
        "Limit", "LimitBase", "LimitListener", "Limiter", "LimiterBucket", "MultiObserver",
        "NullObserver", "Observer", "OrderedResult", "Pacer", "Permit", "RateLearner",
        "RetriesExhausted", "RetryBudget", "RetryPolicy", "Sample", "ServerLimits", "Sleep",
        "Verdict", "WaitTooLong", "mark_first_token", "run_ordered",
    }  # fmt: skip


def test_multi_observer_fans_out() -> None:
    seen: list[str] = []

    class One(scheduler.NullObserver):
        def on_wait(self, stage: str, cause: str, seconds: float) -> None:
            seen.append(cause)

    multi = scheduler.MultiObserver([One(), One(), scheduler.NullObserver()])
    multi.on_wait("draft", "slot", 1.0)
    multi.on_gate("ep", True, 1.0)
    assert seen == ["slot", "slot"]


def test_generic_package_imports_no_app_code() -> None:
    forbidden = ("postgen", "hydra", "prometheus", "httpx")
    for path in Path(scheduler.__file__).parent.glob("*.py"):
        text = path.read_text()
        assert not any(f"import {f}" in text or f"from {f}" in text for f in forbidden), path
