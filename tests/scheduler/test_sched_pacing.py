"""Pacing from stated limits and a rate learned from 429s: pure, on a fake clock."""

import itertools

import pytest
from sched_fakes import FakeClock

from scheduler import (
    AIMDLimit,
    ClockBucket,
    Governor,
    Kind,
    Pacer,
    RateLearner,
    RetryPolicy,
    Verdict,
)


def test_learner_is_unset_until_the_first_429_then_backs_off_from_the_sent_rate() -> None:
    learner = RateLearner()
    for i in range(40):
        assert learner.on_success(i * 0.1) is None  # 10/s, nothing learned yet
    assert learner.on_throttle(4.0, 4.0) == pytest.approx(0.5 * 29 / (3.9 - 1.0))


def test_first_429_takes_the_retry_after_hint() -> None:
    learner = RateLearner(floor=0.95)
    for i in range(40):
        learner.on_success(i * 0.001)  # a fast burst: says nothing about the refill rate
    assert learner.on_throttle(0.04, 0.04, retry_after=0.05) == pytest.approx(0.95 * 20)


def shed(learner: RateLearner, start: float, seconds: float, rate: float, every: int) -> float:
    """The server accepts `rate`/s from a client sending faster; every `every`-th send is a 429."""
    n = int(seconds * rate)
    for i in range(n):
        t = start + i / rate
        learner.on_success(t - 0.05, t)  # 50 ms service
        if i % every == 0:
            learner.on_throttle(t, t)
    return start + n / rate


def test_estimate_is_what_the_server_accepted_between_two_429s() -> None:
    learner = RateLearner(floor=0.95)
    for i in range(40):
        learner.on_success(i * 0.001)  # the initial burst, at 1000/s
    learner.on_throttle(0.04, 0.04)
    end = shed(learner, 0.1, 2.0, rate=20.0, every=5)
    assert learner.estimate() == pytest.approx(20.0, rel=0.05)
    assert learner.target == pytest.approx(20.0, rel=0.05)
    assert learner.rate == pytest.approx(0.95 * 20.0, rel=0.05)
    assert learner.on_throttle(end - 1.0, end) == learner.rate  # sent before the cut: same


def test_fresh_429s_without_an_estimate_halve_but_not_below_the_hint() -> None:
    learner = RateLearner(floor=1.0)
    learner.rate = 100.0
    learner.on_throttle(0.0, 0.0, retry_after=0.04)  # hint: at most 25/s
    assert learner.rate == 50.0
    learner.on_throttle(0.1, 0.1, retry_after=0.04)
    assert learner.rate == 25.0
    learner.on_throttle(0.2, 0.2, retry_after=0.04)
    assert learner.rate == 25.0  # the hint floors it


def _steps_of(learner: RateLearner, start: float, seconds: int) -> list[float]:
    """Feed 100 successes a second for `seconds`; return each step's relative size."""
    rates = [learner.rate or 0.0]
    for second in range(seconds):
        for i in range(100):  # at most one step a period (1 s here)
            learner.on_success(start + second + i * 0.01)
        rates.append(learner.rate or 0.0)
    return [b / a - 1 for a, b in itertools.pairwise(rates) if b != a]


def test_probe_is_gentle_near_the_estimate_fast_below_it_and_bold_without_one() -> None:
    def learner(rate: float, target: float | None) -> RateLearner:
        out = RateLearner(window=10, increase=0.02, fast_increase=0.2, period_s=1.0)
        out.rate, out.target, out._changed_at = rate, target, 0.0
        return out

    near = _steps_of(learner(95.0, 100.0), 1.0, 6)
    assert near == pytest.approx([0.02, 0.04, 0.08, 0.16, 0.2, 0.2])  # doubling, capped
    far = _steps_of(learner(10.0, 100.0), 1.0, 3)
    assert far == pytest.approx([0.2, 0.2, 0.2])  # heading for the estimate
    # No estimate yet: a first pace measured behind a concurrency limit may be far below.
    blind = _steps_of(learner(10.0, None), 1.0, 5)
    assert blind == pytest.approx([0.2, 0.4, 0.8, 1.0, 1.0])


def test_a_lone_refusal_without_an_estimate_keeps_the_last_one() -> None:
    learner = RateLearner(floor=0.95)
    learner.rate, learner.target = 120.0, 100.0
    learner.on_throttle(10.0, 10.0)  # no span to estimate from, no hint
    assert learner.rate == pytest.approx(95.0)  # floor x target, not a halving to 60
    fresh = RateLearner(floor=0.95)
    fresh.rate = 120.0
    fresh.on_throttle(10.0, 10.0)
    assert fresh.rate == pytest.approx(60.0)  # nothing known: halve


def test_no_probe_step_while_something_else_holds_the_sends_back() -> None:
    learner = RateLearner(window=10, period_s=0.5)
    learner.rate, learner._changed_at = 50.0, 0.0  # 50 a second
    for i in range(200):  # 10 a second sent (a concurrency limit binds), all taken
        t = i * 0.1
        learner.on_send(t)
        learner.on_success(t, t)
    assert learner.rate == 50.0
    for i in range(200):  # now at the pace: it steps
        t = 20.0 + i * 0.02
        learner.on_send(t)
        learner.on_success(t, t)
    assert learner.rate > 50.0


def test_slow_calls_step_on_silence_not_only_on_replies() -> None:
    # A rate refuses at arrival: a send not refused within twice a refusal's time was
    # taken, though its reply takes 20 s.
    learner = RateLearner(window=10, period_s=0.5)
    learner.rate = 2.0
    learner.on_refused(0.0)
    learner.on_throttle(0.0, 0.01)  # a refusal comes back in 10 ms; sets nothing new
    learner.rate, learner._changed_at, learner._stepped_at = 2.0, 0.0, 0.0
    for i in range(1, 40):
        learner.on_send(i * 0.5)  # at the pace, no replies at all
    assert learner.rate is not None and learner.rate > 2.0 * 1.2**3


def test_a_cut_after_a_step_does_not_fall_below_the_pace_that_held() -> None:
    # A bucket of one request at 60 a second: a climb from 40 to 58 a second, a step to
    # 70, refused. The estimate reaches back into the climb (the bucket sat full between
    # sends) and reads ~50; the pace before the step (58) held for a whole period.
    learner = RateLearner(floor=0.95, period_s=0.5)
    t = 0.0
    learner.rate = 40.0
    learner.on_refused(0.0)
    learner.on_throttle(0.0, 0.005)
    learner.rate, learner._changed_at, learner._stepped_at = 40.0, 0.0, 0.0
    while (learner.rate or 0.0) < 60.0 and t < 30.0:
        t += 1.0 / (learner.rate or 1.0)
        learner.on_send(t)
        learner.on_success(t, t)
    assert learner._worked is not None and learner._worked < 60.0
    held = learner._worked
    learner.on_send(t + 0.001)
    learner.on_refused(t + 0.001)
    learner.on_throttle(t + 0.001, t + 0.006)
    assert learner.estimate() is not None and learner.estimate() < 0.95 * held
    assert learner.rate == pytest.approx(0.95 * held, rel=0.05)


async def test_pacer_spends_the_stated_remaining_then_paces(clock: FakeClock) -> None:
    pacer = Pacer(clock, clock.sleep)
    pacer.configure(60, None)  # one a second
    pacer.observe(remaining_requests=3, remaining_tokens=None)
    for _ in range(3):
        assert await pacer.wait() == 0.0
    assert await pacer.wait() == pytest.approx(1.0)
    assert await pacer.wait() == pytest.approx(1.0)


@pytest.mark.parametrize(("burst_s", "free"), [(60.0, 60), (3.0, 3), (0.0, 1)])
async def test_a_configured_rate_spends_burst_s_of_itself_at_once(
    clock: FakeClock, burst_s: float, free: int
) -> None:
    # A gateway without a burst (nginx limit_req, a strict GCRA) refuses a clump: burst_s 0
    # spaces every request by 1/R.
    pacer = Pacer(clock, clock.sleep, rpm=60, burst_s=burst_s)
    waits = [await pacer.wait() for _ in range(free + 2)]
    assert waits[:free] == [0.0] * free
    assert waits[free:] == pytest.approx([1.0, 1.0])


async def test_pacer_syncs_to_a_lower_remaining_from_another_client(clock: FakeClock) -> None:
    pacer = Pacer(clock, clock.sleep)
    pacer.configure(60, None)
    pacer.observe(remaining_requests=9, remaining_tokens=None)  # burst 10 seen
    pacer.observe(remaining_requests=0, remaining_tokens=None)  # someone else spent it
    assert await pacer.wait() == pytest.approx(1.0)


async def test_learned_rate_starts_with_an_empty_burst_of_one(clock: FakeClock) -> None:
    pacer = Pacer(clock, clock.sleep)
    pacer.learn(6000.0)  # 100/s: a tenth of a second's burst would be 10
    assert pacer.rpm == 6000.0
    waits = [await pacer.wait() for _ in range(3)]
    assert waits == pytest.approx([0.01, 0.01, 0.01])  # each send spaced, none at once
    clock.now += 1.0  # idle: the bucket refills, but to one request only
    waits = [await pacer.wait() for _ in range(3)]
    assert waits == pytest.approx([0.0, 0.01, 0.01])


async def test_a_learned_rate_above_the_stated_one_leaves_what_remains(clock: FakeClock) -> None:
    # RPM 3600 stated, 599 remaining. A capacity refusal read as a rate taught the learner
    # more than the stated rate, so the stated one still paces; spending its burst at that
    # paced 900 requests at 58/s for the whole run (3 x the bound in `anthropic_both`).
    pacer = Pacer(clock, clock.sleep)
    pacer.configure(3600.0, None)
    pacer.observe(remaining_requests=599, remaining_tokens=None)
    pacer.learn(5000.0)
    assert pacer.rpm == 3600.0
    assert [await pacer.wait() for _ in range(599)] == [0.0] * 599
    assert await pacer.wait() == pytest.approx(1 / 60)
    pacer.learn(1200.0)  # below the stated rate: the learned one paces, a send at a time
    assert pacer.rpm == 1200.0
    clock.now += 10.0
    assert [await pacer.wait() for _ in range(3)] == pytest.approx([0.0, 0.05, 0.05])


async def test_a_throttled_429_teaches_the_learner_and_leaves_the_limit(clock: FakeClock) -> None:
    def classify(exc: BaseException) -> Verdict:
        return Verdict(Kind.DROP, "rate_limited", retry_after=0.0, throttled=True)

    gov = Governor(
        "t", AIMDLimit(initial=8), classify, clock=clock, sleep=clock.sleep, learner=RateLearner()
    )
    lane = gov.lane("s", 10, RetryPolicy(attempts=1))

    async def ok() -> None:
        await clock.sleep(0.1)

    refused = 0

    async def limited() -> None:
        nonlocal refused
        refused += 1
        if refused == 1:
            raise RuntimeError("429")

    for _ in range(10):
        await lane.call(ok)
    await lane.call(limited)  # refused once, then retried: never failed
    assert gov.limit == 8
    assert gov.learner is not None and gov.learner.rate == pytest.approx(5.0, rel=0.1)
    assert gov.pacer.rpm == pytest.approx(300.0, rel=0.1)


def test_a_rounding_residue_in_the_bucket_is_not_a_wait() -> None:
    now = [1234.5678]
    bucket = ClockBucket(300.0, 1.0, lambda: now[0], level=1.0)
    wait = bucket.wait_s(1.0)
    now[0] += wait  # sleeping exactly the wait leaves at most a rounding residue
    assert bucket.wait_s(1.0) == 0.0


def test_refused_sends_measure_a_bucket_before_any_success_returns() -> None:
    # Sends at 100/s into an empty bucket refilled at 20/s: one in five is accepted. The
    # accepted ones are still in service (no success back yet), yet the estimate is there.
    learner = RateLearner()
    t = 0.0
    learner.on_success(sent_at=-1.0, now=-0.9)  # one earlier success: a service time of 0.1 s
    for k in range(40):
        t = k * 0.01
        learner.on_send(t)
        if k % 5:
            learner.on_throttle(sent_at=t, now=t + 0.002, delivered=100.0)
    estimate = learner.estimate()
    assert estimate is not None and 15.0 <= estimate <= 25.0
    assert learner.rate is not None and learner.rate <= 25.0  # paced near it, not at 100/s


def test_refusals_right_after_a_change_are_the_same_overshoot() -> None:
    learner = RateLearner()
    learner.on_success(sent_at=0.0, now=0.1)  # service time 0.1 s
    learner.on_throttle(sent_at=1.0, now=1.001, delivered=50.0)
    first = learner.rate
    learner.on_throttle(sent_at=1.01, now=1.011)  # sent 10 ms after the change: too soon
    assert learner.rate == first
    learner.on_throttle(sent_at=1.2, now=1.201)  # a service time later: its own news
    assert learner.rate is not None and first is not None and learner.rate < first


def test_a_refusal_read_as_a_cap_still_counts_as_not_accepted() -> None:
    # Sends at 100/s, the server accepts 20/s. Half the refusals are read by the caller as
    # its own concurrency's overshoot and never reach `on_throttle`: counted as accepted,
    # they would make the estimate 60/s.
    learner = RateLearner()
    learner.on_success(sent_at=-1.0, now=-0.9)
    for k in range(100):
        t = k * 0.01
        learner.on_send(t)
        if k % 5:
            learner.on_refused(t)
            if k % 2:
                learner.on_throttle(sent_at=t, now=t + 0.002, delivered=100.0)
    estimate = learner.estimate()
    assert estimate is not None and 15.0 <= estimate <= 25.0


def test_a_storm_with_too_few_accepted_for_an_estimate_cuts_to_an_upper_bound() -> None:
    # Nearly everything refused: no estimate (fewer than min_samples accepted), but one more
    # than were accepted, over the span, bounds the rate; halving alone would take many cuts.
    learner = RateLearner()
    learner.on_success(sent_at=-0.1, now=0.0)  # a service time of 0.1 s
    learner.rate = 200.0
    for k in range(60):
        t = k * 0.005
        learner.on_send(t)
        learner.on_refused(t)
        learner.on_throttle(sent_at=t, now=t + 0.001)
    assert learner.estimate() is None
    assert learner.rate is not None and learner.rate <= 1 / 0.25  # at most 1 per 0.25 s span


def test_a_slow_pace_probes_per_period_not_per_ten_successes() -> None:
    # A first pace of 2 a second (measured while concurrency held sends back): ten
    # successes a step would take 5 s per step; a step now needs what the pace sends in
    # two periods (at least 2), about one step a second.
    learner = RateLearner(window=10, increase=0.02, fast_increase=0.2, period_s=0.5)
    learner.rate = 2.0
    learner._changed_at = 0.0
    t = 0.0
    while t < 10.0:
        t += 1.0 / learner.rate  # successes at the pace
        learner.on_success(t - 0.9, t)
    assert learner.rate > 2.0 * 1.02 * 1.04 * 1.08 * 1.16 * 1.2  # five steps or more, not 2
    fast = RateLearner(window=10, period_s=0.5)
    fast.rate = 100.0
    fast._changed_at = 0.0
    for i in range(9):
        fast.on_success(1.0 + i * 0.01)
    assert fast.rate == 100.0  # 50 a period: a step still needs the whole window
