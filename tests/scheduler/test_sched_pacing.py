"""Pacing from stated limits and a rate learned from 429s: pure, on a fake clock."""

import pytest
from sched_fakes import FakeClock

from scheduler import (
    AIMDLimit,
    Governor,
    Kind,
    Pacer,
    RateLearner,
    RetriesExhausted,
    RetryPolicy,
    Verdict,
)


def test_learner_is_unset_until_the_first_429_then_takes_the_accepted_rate() -> None:
    learner = RateLearner()
    for i in range(40):
        assert learner.on_success(i * 0.1) is None  # 10/s, nothing learned yet
    assert learner.on_throttle(4.0, 4.0) == pytest.approx(29 / (4.0 - 1.0))


def test_one_cut_per_overshoot_then_floor_at_what_the_server_took() -> None:
    learner = RateLearner(min_samples=5)
    for i in range(40):
        learner.on_success(i * 0.01)  # a 100/s burst
    assert learner.on_throttle(0.40, 0.40) == pytest.approx(100, rel=0.05)
    assert learner.on_throttle(0.39, 0.41) == pytest.approx(100, rel=0.05)  # sent before: same
    for i in range(10):
        learner.on_success(0.40 + i * 0.05)  # the shedding server takes 20/s
    rate = learner.on_throttle(0.9, 0.9)
    assert rate == pytest.approx(50, rel=0.05)  # max(100 * 0.5, 0.85 * ~20)
    assert learner.target == pytest.approx(20, rel=0.15)


def test_fresh_429s_without_successes_cut_by_backoff() -> None:
    learner = RateLearner(min_samples=5)
    for i in range(10):
        learner.on_success(i * 0.01)
    first = learner.on_throttle(0.1, 0.1)
    assert first is not None
    for k in range(9):
        assert learner.on_throttle(0.2 + k * 0.001, 0.2 + k * 0.001) == first
    assert learner.on_throttle(0.3, 0.3) == pytest.approx(first * 0.5)


def test_probe_grows_slowly_near_target_and_fast_far_below() -> None:
    learner = RateLearner(window=10, increase=0.02, fast_increase=0.1)
    learner.rate, learner.target = 10.0, 100.0
    for i in range(10):
        learner.on_success(float(i))
    assert learner.rate == pytest.approx(11.0)
    learner.rate = 95.0
    for i in range(10):
        learner.on_success(20.0 + i)
    assert learner.rate == pytest.approx(95.0 * 1.02)


async def test_pacer_spends_the_stated_remaining_then_paces(clock: FakeClock) -> None:
    pacer = Pacer(clock, clock.sleep)
    pacer.configure(60, None)  # one a second
    pacer.observe(remaining_requests=3, remaining_tokens=None)
    for _ in range(3):
        assert await pacer.wait() == 0.0
    assert await pacer.wait() == pytest.approx(1.0)
    assert await pacer.wait() == pytest.approx(1.0)


async def test_pacer_syncs_to_a_lower_remaining_from_another_client(clock: FakeClock) -> None:
    pacer = Pacer(clock, clock.sleep)
    pacer.configure(60, None)
    pacer.observe(remaining_requests=9, remaining_tokens=None)  # burst 10 seen
    pacer.observe(remaining_requests=0, remaining_tokens=None)  # someone else spent it
    assert await pacer.wait() == pytest.approx(1.0)


async def test_learned_rate_starts_with_an_empty_burst_and_bumps_the_epoch(
    clock: FakeClock,
) -> None:
    pacer = Pacer(clock, clock.sleep)
    epoch = pacer.epoch
    pacer.learn(120.0)  # 2/s
    assert pacer.rpm == 120.0 and pacer.epoch == epoch + 1
    assert await pacer.wait() == pytest.approx(0.5)
    pacer.learn(240.0)  # a raise does not send paced requests back to the queue
    assert pacer.epoch == epoch + 1


async def test_a_throttled_429_teaches_the_learner_and_leaves_the_limit(clock: FakeClock) -> None:
    def classify(exc: BaseException) -> Verdict:
        return Verdict(Kind.DROP, "rate_limited", retry_after=0.0, throttled=True)

    gov = Governor(
        "t", AIMDLimit(initial=8), classify, clock=clock, sleep=clock.sleep, learner=RateLearner()
    )
    lane = gov.lane("s", 10, RetryPolicy(attempts=1))

    async def ok() -> None:
        await clock.sleep(0.1)

    async def limited() -> None:
        raise RuntimeError("429")

    for _ in range(10):
        await lane.call(ok)
    with pytest.raises(RetriesExhausted):
        await lane.call(limited)
    assert gov.limit == 8
    assert gov.learner is not None and gov.learner.rate == pytest.approx(10.0, rel=0.1)
    assert gov.pacer.rpm == pytest.approx(600.0, rel=0.1)
