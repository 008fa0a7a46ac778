"""The scheduler over loopback HTTP: a parallel pipeline against a rate-limited simulator."""

from __future__ import annotations

from postgen.engine.session import Endpoint, run_async
from postgen.observe.result import RunResult
from postgen.sim import SimConfig, SimServer
from tests.conftest import settings_for


async def _run(config: SimConfig, *overrides: str) -> tuple[RunResult, dict[str, object]]:
    settings = settings_for(*overrides, "cache.enabled=false", "quiet=true")
    with SimServer(config) as server:
        result = await run_async(settings, Endpoint(server.base_url, None))
        return result, server.stats()


async def test_parallel_run_under_an_rpm_limit_completes_with_few_429s() -> None:
    # 25 items: 25 candidates + 25 cards + 75 votes + 1 synthesis = 126 requests against
    # 600 rpm (a 100-request burst, then 10/s): the last ~26 must be paced, not hammered.
    config = SimConfig(seed=3, time_scale=0.01, rpm=600)
    result, stats = await _run(config, "parallel=true", "iterations=25", "concurrency=64")
    assert result.status == "ok", result.error
    assert result.post is not None
    for name, stage in result.stats.stages.items():
        assert stage.succeeded == stage.items, name
        assert not stage.failed, name
    by_status = stats["by_status"]
    assert isinstance(by_status, dict)
    ok, limited = by_status.get("200", 0), by_status.get("429", 0)
    assert ok >= 126
    assert limited <= 0.1 * ok  # adaptive pacing: a handful, not a storm


async def test_parallel_keeps_requests_in_flight_where_sequential_keeps_one() -> None:
    # What makes parallel faster, counted at the server (speed itself: benchmarks/).
    config = SimConfig(seed=5, time_scale=0.005)
    common = ("iterations=20", "concurrency=8")
    sequential, seq_stats = await _run(config, "parallel=false", *common)
    parallel, par_stats = await _run(config, "parallel=true", *common)
    assert sequential.status == parallel.status == "ok"
    assert seq_stats["peak_concurrency"] == 1
    assert isinstance(par_stats["peak_concurrency"], int) and par_stats["peak_concurrency"] >= 4
    assert par_stats["completed"] == seq_stats["completed"]  # same work, none repeated


def test_learn_rate_attaches_the_rate_learner_only_when_asked() -> None:
    from postgen.engine.scheduling import build_governor
    from scheduler import NullObserver

    def learner(*overrides: str) -> object:
        return build_governor(settings_for("parallel=true", *overrides), NullObserver()).learner

    assert learner() is not None  # adaptive.yaml: a 429 teaches a paced rate
    assert learner("scheduler.learn_rate=false") is None  # a 429 cuts concurrency instead
    assert learner("scheduler=fixed") is None
    assert learner("scheduler=fixed", "scheduler.learn_rate=true") is not None


def test_pace_burst_s_reaches_the_pacer_of_a_configured_rate() -> None:
    from postgen.engine.scheduling import build_governor
    from scheduler import NullObserver, Pacer

    def pacer(*overrides: str) -> Pacer:
        return build_governor(settings_for("parallel=true", *overrides), NullObserver()).pacer

    assert pacer().burst_s == 60.0  # conf/scheduler/adaptive.yaml
    assert pacer("scheduler.rpm=600", "scheduler.pace_burst_s=0").burst_s == 0.0
    assert pacer("scheduler=fixed", "scheduler.pace_burst_s=2.5").burst_s == 2.5
