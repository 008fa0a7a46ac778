"""Refusals over loopback HTTP: every item completes, or the run stops with one line.

A parallel pipeline (20 candidates, 20 cards, 60 votes, 1 synthesis) against the simulator's
refusing modes, and against a front that sends refusals the simulator cannot.
"""

from __future__ import annotations

from typing import Any

import pytest

from postgen.engine.session import Endpoint, run_async
from postgen.observe.result import RunResult
from postgen.sim import SimConfig, SimServer
from scheduler import NullObserver
from tests.conftest import settings_for
from tests.engine.refusing_front import Refusal, RefusingFront

PARALLEL = ("parallel=true", "iterations=20", "concurrency=64", "cache.enabled=false", "quiet=true")
REQUESTS = 20 + 20 + 60 + 1
BARE_429: dict[str, Any] = {"error": {"message": "Too Many Requests", "type": "requests"}}


async def _run(url: str, *overrides: str) -> RunResult:
    return await run_async(settings_for(*PARALLEL, *overrides), Endpoint(url, None))


def _complete(result: RunResult) -> None:
    assert result.status == "ok", result.error
    for name, stage in result.stats.stages.items():
        assert stage.succeeded == stage.items and not stage.failed, name


def _count(stats: dict[str, Any], status: str) -> int:
    by_status = stats["by_status"]
    assert isinstance(by_status, dict)
    return int(by_status.get(status, 0))


# The built-in simulator's preset reads replies whole; `llm=openai` (what a user points at any
# OpenAI-compatible server) streams them, so first tokens reach the scheduler.
PRESETS = pytest.mark.parametrize(
    "preset", [("llm=sim",), ("llm=openai", "llm.model=sim-1")], ids=["sim", "openai"]
)


@PRESETS
async def test_bare_429s_of_a_rate_limit_lose_no_item(preset: tuple[str, ...]) -> None:
    config = SimConfig(seed=3, time_scale=0.01, rpm=600, rate_headers=False, retry_after=False)
    with SimServer(config) as sim:
        result = await _run(sim.base_url, *preset)
        stats = sim.stats()
    _complete(result)
    assert _count(stats, "429") <= 0.25 * _count(stats, "200")


async def test_a_capacity_cap_answered_with_503_loses_no_item() -> None:
    config = SimConfig(seed=4, time_scale=0.01, capacity=6, queue=0)
    with SimServer(config) as sim:
        result = await _run(sim.base_url)
        stats = sim.stats()
    _complete(result)
    assert _count(stats, "503") <= 0.25 * _count(stats, "200")


async def test_bursts_of_bare_429s_do_not_fail_the_run() -> None:
    config = SimConfig(
        seed=5, time_scale=0.01, burst_429_every_s=1.0, burst_429_len_s=0.2, retry_after=False
    )
    with SimServer(config) as sim:
        result = await _run(sim.base_url, "iterations=8")
    _complete(result)


@PRESETS
async def test_a_queueing_server_gets_every_request_once(preset: tuple[str, ...]) -> None:
    config = SimConfig(seed=6, time_scale=0.01, capacity=2, queue=10_000)
    with SimServer(config) as sim:
        result = await _run(sim.base_url, *preset)
        stats = sim.stats()
    _complete(result)
    assert _count(stats, "200") == REQUESTS  # nothing timed out and was sent again
    assert _count(stats, "503") == _count(stats, "429") == 0
    assert stats["streamed"] == (REQUESTS if "llm=openai" in preset else 0)


async def test_a_garbage_retry_after_is_treated_as_absent() -> None:
    def refuse(n: int) -> Refusal | None:
        return (429, BARE_429, {"retry-after": "garbage"}) if n < 20 else None

    with SimServer(SimConfig(seed=7, time_scale=0.01)) as sim:
        async with RefusingFront(sim.root_url, refuse) as front:
            result = await _run(front.base_url)
            refused = front.refused
    _complete(result)
    assert refused == 20


@pytest.mark.parametrize("status", [429, 503])
async def test_a_day_long_retry_after_stops_the_run_with_one_line(status: int) -> None:
    def refuse(n: int) -> Refusal | None:
        return (status, BARE_429, {"retry-after": "86400"})

    with SimServer(SimConfig(seed=8, time_scale=0.01)) as sim:
        async with RefusingFront(sim.root_url, refuse) as front:
            url = front.base_url
            result = await _run(url)
    assert result.status == "failed"
    assert result.error is not None and "\n" not in result.error
    assert "86400 s" in result.error and "scheduler.max_wait_s=300" in result.error
    assert url in result.error  # names the endpoint
    why = "the quota looks exhausted" if status == 429 else "the server says it is unavailable"
    assert why in result.error


async def test_a_larger_max_wait_obeys_a_long_retry_after() -> None:
    def refuse(n: int) -> Refusal | None:
        return (429, BARE_429, {"retry-after": "2"}) if n == 0 else None

    with SimServer(SimConfig(seed=9, time_scale=0.01)) as sim:
        async with RefusingFront(sim.root_url, refuse) as front:
            result = await _run(front.base_url, "scheduler.max_wait_s=1", "iterations=2")
            assert result.status == "failed" and result.error is not None
            assert "scheduler.max_wait_s=1" in result.error
            result = await _run(front.base_url, "scheduler.max_wait_s=5", "iterations=2")
    assert result.status == "ok", result.error


async def test_a_dead_endpoint_stops_the_run_with_one_line() -> None:
    config = SimConfig(seed=10, time_scale=0.01, error_rate=1.0)
    with SimServer(config) as sim:
        result = await _run(
            sim.base_url, "scheduler.breaker_failures=10", "scheduler.breaker_s=1.0"
        )
        stats = sim.stats()
    assert result.status == "failed"
    assert result.error is not None and "\n" not in result.error
    assert "looks down" in result.error and sim.base_url in result.error
    assert _count(stats, "500") < 200  # it stopped; it did not trickle through every item


class _BudgetWaits(NullObserver):
    def __init__(self) -> None:
        self.waits = 0

    def on_wait(self, stage: str, cause: str, seconds: float) -> None:
        self.waits += cause == "budget"


async def test_an_exhausted_retry_budget_delays_retries_and_loses_no_item() -> None:
    # Half the calls fail with a 500; the budget admits 4 retries a second and nothing more.
    # Retries beyond it wait for it (slower), none fails an item.
    config = SimConfig(seed=11, time_scale=0.01, error_rate=0.5)
    budget = _BudgetWaits()
    overrides = (
        "iterations=4",
        "stage.candidates.retry.attempts=100",
        "stage.extract.retry.attempts=100",
        "stage.score.retry.attempts=100",
        "stage.synthesize.retry.attempts=100",
        "scheduler.retry_budget=0",
        "scheduler.retry_budget_min=4",
        "scheduler.retry_budget_window_s=1",
    )
    with SimServer(config) as sim:
        settings = settings_for(*PARALLEL, *overrides)
        result = await run_async(settings, Endpoint(sim.base_url, None), observers=[budget])
        stats = sim.stats()
    _complete(result)
    assert _count(stats, "500") > 4  # more failures than one window of the budget admits
    assert budget.waits > 0  # so retries waited for it
