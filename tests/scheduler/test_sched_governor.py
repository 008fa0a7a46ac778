"""Governor and lanes on a fake clock: gate, backoff, fatal errors, budget, pacing, ceilings."""

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sched_fakes import FakeClock, MaxRandom

from scheduler import (
    AIMDLimit,
    Breaker,
    DeliveryLimit,
    EndpointDown,
    Feedback,
    FixedLimit,
    Governor,
    Kind,
    Limit,
    NullObserver,
    RateLearner,
    RetriesExhausted,
    RetryBudget,
    RetryPolicy,
    ServerLimits,
    Verdict,
    WaitTooLong,
)


class RateLimited(Exception):
    def __init__(self, retry_after: float | None = None) -> None:
        self.retry_after = retry_after


class Overloaded(RateLimited):
    """A 503: a refusal that says the server is busy, not that a quota is spent."""


class ServerError(Exception): ...


class BadRequest(Exception): ...


class Unauthorized(Exception): ...


def classify(exc: BaseException) -> Verdict:
    if isinstance(exc, Overloaded):
        return Verdict(Kind.DROP, "overloaded", retry_after=exc.retry_after)
    if isinstance(exc, RateLimited):
        return Verdict(Kind.DROP, "rate_limited", retry_after=exc.retry_after, throttled=True)
    if isinstance(exc, ServerError):
        return Verdict(Kind.RETRY, "server_error")
    if isinstance(exc, BadRequest):
        return Verdict(Kind.FAIL, "bad_request")
    return Verdict(Kind.FATAL, "fatal")


class Recorder(NullObserver):
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def on_limit_change(self, name: str, old: int, new: int, reason: str) -> None:
        self.events.append(("limit", old, new, reason))

    def on_gate(self, name: str, closed: bool, wait_s: float) -> None:
        self.events.append(("gate", closed, wait_s))

    def on_complete(self, stage: str, verdict: Verdict, latency_s: float, inflight: int) -> None:
        self.events.append(("complete", verdict.reason, latency_s))

    def on_retry(self, stage: str, attempt: int, reason: str, wait_s: float) -> None:
        self.events.append(("retry", attempt, reason, wait_s))

    def on_wait(self, stage: str, cause: str, seconds: float) -> None:
        self.events.append(("wait", cause, seconds))

    def of(self, kind: str) -> list[tuple[Any, ...]]:
        return [e for e in self.events if e[0] == kind]


def governor(clock: FakeClock, limit: Limit | None = None, **kw: Any) -> Governor:
    kw.setdefault("observer", Recorder())
    kw.setdefault("rng", MaxRandom())
    kw.setdefault("gate_jitter", 0.0)
    return Governor(
        "test", limit or AIMDLimit(initial=4), classify, clock=clock, sleep=clock.sleep, **kw
    )


POLICY = RetryPolicy(attempts=4, initial_backoff_s=1.0, max_backoff_s=8.0, timeout_s=None)


async def test_gate_holds_new_requests_and_retries_until_retry_after(clock: FakeClock) -> None:
    obs = Recorder()
    lane = governor(clock, observer=obs).lane("draft", 10, POLICY)
    started: list[tuple[str, float]] = []
    failed = False

    async def first() -> str:
        nonlocal failed
        started.append(("first", clock()))
        if not failed:
            failed = True
            raise RateLimited(retry_after=10.0)
        return "a"

    async def later() -> str:
        started.append(("later", clock()))
        return "b"

    task = asyncio.create_task(lane.call(first))
    await clock.sleep(0.5)
    assert await lane.call(later) == "b"
    assert await task == "a"
    assert started[0] == ("first", 0.0)
    assert all(t >= 10.0 for _, t in started[1:]) and len(started) == 3
    assert obs.of("gate") == [("gate", True, 10.0), ("gate", False, 0.0)]
    assert ("wait", "cooldown", 9.5) in obs.events


async def test_an_overshoots_retry_after_delays_its_retry_not_the_endpoint(
    clock: FakeClock,
) -> None:
    # Three requests in service, a fourth refused with Retry-After: 2 (a capacity cap's
    # overshoot, as the delivery law sees it). Its retry waits 2 s; the endpoint stays open.
    obs = Recorder()
    gov = governor(clock, DeliveryLimit(initial=4), observer=obs)
    lane = gov.lane("draft", 10, POLICY)
    started: list[tuple[str, float]] = []
    refused = False

    async def long_call() -> str:
        await clock.sleep(5.0)
        return "long"

    async def capped() -> str:
        nonlocal refused
        started.append(("capped", clock()))
        if not refused:
            refused = True
            raise RateLimited(retry_after=2.0)
        return "capped"

    longs = [asyncio.create_task(lane.call(long_call)) for _ in range(3)]
    await clock.sleep(0.1)
    task = asyncio.create_task(lane.call(capped))
    await clock.sleep(0.5)
    assert not gov.gate_closed
    assert await task == "capped"
    await asyncio.gather(*longs)
    assert obs.of("gate") == []  # never closed: the slots the server serves stay in use
    assert [t for name, t in started if name == "capped"][1] >= 2.1  # its retry waited


async def test_a_storms_retry_after_delays_its_retries_not_the_endpoint(
    clock: FakeClock,
) -> None:
    # Refused, cut, and refused again before anything sent since got through: read as a rate
    # (a storm), but a cap that moved looks the same, so its Retry-After closes no gate.
    obs = Recorder()
    limit = DeliveryLimit(initial=8)
    gov = governor(clock, limit, observer=obs)
    lane = gov.lane("draft", 10, POLICY)
    refusals = 0

    def long_call(seconds: float) -> Callable[[], Awaitable[str]]:
        async def call() -> str:
            await clock.sleep(seconds)
            return "long"

        return call

    async def refused_twice() -> str:
        nonlocal refusals
        if refusals < 2:
            refusals += 1
            raise RateLimited(retry_after=2.0)
        return "ok"

    longs = [asyncio.create_task(lane.call(long_call(s))) for s in (1.0, 1.0, 3.0)]
    await clock.sleep(0.1)
    first = asyncio.create_task(lane.call(refused_twice))  # its retry waits until 2.1 s
    await clock.sleep(0.1)
    assert not limit.rate_signal  # concurrency's overshoot, for all it knows
    await clock.sleep(1.0)  # two of the three sent before the cut are back: no news
    second = asyncio.create_task(lane.call(refused_twice))
    await clock.sleep(0.1)
    assert limit.rate_signal and limit.storm
    assert not gov.gate_closed
    assert await first == await second == "ok"
    await asyncio.gather(*longs)
    assert obs.of("gate") == []


async def test_a_rates_retry_after_closes_the_gate_for_every_request(clock: FakeClock) -> None:
    obs = Recorder()
    gov = governor(clock, DeliveryLimit(initial=4), observer=obs)
    lane = gov.lane("draft", 10, POLICY)
    refused = False

    async def alone() -> str:  # nothing else in flight: concurrency cannot be the cause
        nonlocal refused
        if not refused:
            refused = True
            raise RateLimited(retry_after=2.0)
        return "ok"

    assert await lane.call(alone) == "ok"
    assert obs.of("gate")[0] == ("gate", True, 2.0)


async def test_a_503s_retry_after_delays_its_retry_even_when_read_as_a_rate(
    clock: FakeClock,
) -> None:
    # Refused alone, as a rate's 429 above: but a 503 says the server is busy, which fewer
    # requests in flight cure (the cut), not an endpoint-wide pause.
    obs = Recorder()
    limit = DeliveryLimit(initial=4)
    gov = governor(clock, limit, observer=obs)
    lane = gov.lane("draft", 10, POLICY)
    tries: list[float] = []

    async def alone() -> str:
        tries.append(clock())
        if len(tries) == 1:
            raise Overloaded(retry_after=2.0)
        return "ok"

    assert await lane.call(alone) == "ok"
    assert limit.rate_signal  # read as a rate: nothing else was in flight
    assert obs.of("gate") == []
    assert tries[1] >= 2.0  # its own retry still waited the Retry-After


async def test_retrying_task_holds_no_slot_while_backing_off(clock: FakeClock) -> None:
    obs = Recorder()
    gov = governor(clock, observer=obs)
    lane = gov.lane("draft", 10, RetryPolicy(initial_backoff_s=5.0, timeout_s=None))
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ServerError
        return "ok"

    task = asyncio.create_task(lane.call(flaky))
    await clock.sleep(1.0)
    assert calls == 1 and lane.inflight == 0 and gov.inflight == 0
    assert await task == "ok"
    assert clock() == 5.0
    assert obs.of("retry") == [("retry", 1, "server_error", 5.0)]
    assert gov.limit == 4  # a RETRY is an ignored sample


@pytest.mark.parametrize("error", [Unauthorized(), BadRequest()])
async def test_fatal_and_fail_raise_at_once(clock: FakeClock, error: Exception) -> None:
    lane = governor(clock).lane("draft", 10, POLICY)
    calls = 0

    async def broken() -> None:
        nonlocal calls
        calls += 1
        raise error

    with pytest.raises(type(error)):
        await lane.call(broken)
    with pytest.raises(type(error)):
        await lane.call_with_fallback(broken)
    assert calls == 2


async def test_exhaustion_raises_retries_exhausted(clock: FakeClock) -> None:
    lane = governor(clock).lane("draft", 10, POLICY)

    async def down() -> None:
        raise ServerError

    with pytest.raises(RetriesExhausted) as info:
        await lane.call(down)
    assert info.value.attempts == 4 and isinstance(info.value.last, ServerError)
    assert info.value.verdict == Verdict(Kind.RETRY, "server_error")


async def test_deadline_stops_retries(clock: FakeClock) -> None:
    policy = RetryPolicy(attempts=50, initial_backoff_s=1.0, max_backoff_s=4.0, deadline_s=10.0)
    lane = governor(clock).lane("draft", 10, policy)

    async def down() -> None:
        raise ServerError

    with pytest.raises(RetriesExhausted):
        await lane.call(down)
    assert clock() <= 10.0


async def test_budget_delays_retries_and_the_breaker_stops_a_dead_endpoint(
    clock: FakeClock,
) -> None:
    budget = RetryBudget(ratio=0.0, min_retries=3, clock=clock)
    breaker = Breaker(failures=10, seconds=5.0)
    gov = governor(clock, budget=budget, breaker=breaker)
    lane = gov.lane("draft", 10, RetryPolicy(attempts=6))
    calls = 0

    async def dead() -> None:
        nonlocal calls
        calls += 1
        raise ServerError

    results = await asyncio.gather(*(lane.call(dead) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, EndpointDown) for r in results)  # every item stops, none trickles
    assert "looks down" in str(results[0]) and "server_error" in str(results[0])
    assert 10 <= calls <= 12  # without the budget: 5 * 6; the budget spaced the retries out
    assert clock() >= 5.0
    with pytest.raises(EndpointDown):
        await lane.call(dead)  # a new call after the breaker opened: no attempt at all
    assert calls <= 12


async def test_header_pacing_engages_when_limits_arrive(clock: FakeClock) -> None:
    obs = Recorder()
    limits = ServerLimits(limit_requests=6, limit_tokens=100_000)
    gov = governor(
        clock, observer=obs, feedback=lambda r: Feedback(limits=limits), header_margin=1.0
    )
    lane = gov.lane("draft", 10, POLICY)

    async def quick() -> int:
        return 1

    for _ in range(12):
        await lane.call(quick, est_tokens=10)
    assert gov.pacer.rpm == 6 and gov.pacer.tpm == 100_000
    assert clock() == pytest.approx(50.0)  # 1 unpaced, 6 in the burst, then one per 10 s
    assert len(obs.of("wait")) == 5


async def test_exhausted_remaining_closes_gate_until_reset(clock: FakeClock) -> None:
    gov = governor(clock)
    gov.observe_limits(ServerLimits(remaining_requests=0, reset_requests_s=3.0))
    assert gov.gate_closed and gov.pacer.rpm is None
    await gov.wait_gate("draft")
    assert clock() == 3.0


async def test_ceiling_per_lane_and_shared_governor_limit(clock: FakeClock) -> None:
    gov = governor(clock, FixedLimit(5))
    narrow, wide = gov.lane("a", 2, POLICY), gov.lane("b", 10, POLICY)
    peaks = {"a": 0, "b": 0, "gov": 0}

    def work(lane_name: str, lane: Any) -> Any:
        async def fn() -> None:
            peaks[lane_name] = max(peaks[lane_name], lane.inflight)
            peaks["gov"] = max(peaks["gov"], gov.inflight)
            await clock.sleep(1.0)

        return fn

    await asyncio.gather(
        *(narrow.call(work("a", narrow)) for _ in range(10)),
        *(wide.call(work("b", wide)) for _ in range(10)),
    )
    assert peaks == {"a": 2, "b": 5, "gov": 5}
    narrow.ceiling = 4
    assert narrow.ceiling == 4


async def test_timeouts_are_drops_retried_until_the_deadline(clock: FakeClock) -> None:
    obs = Recorder()
    gov = governor(clock, AIMDLimit(initial=8), observer=obs)
    lane = gov.lane("draft", 10, RetryPolicy(attempts=1, timeout_s=5.0, deadline_s=12.0))

    async def hang() -> None:
        await clock.sleep(100.0)

    with pytest.raises(RetriesExhausted) as info:
        await lane.call(hang)
    assert info.value.verdict == Verdict(Kind.DROP, "timeout")
    assert info.value.attempts == 3  # refusals do not count against attempts=1
    assert clock() == pytest.approx(12.0) and gov.limit <= 4
    assert ("limit", 8, 4, "decrease") in obs.events
    assert ("complete", "timeout", 5.0) in obs.events


async def test_successes_grow_the_shared_limit(clock: FakeClock) -> None:
    gov = governor(clock, AIMDLimit(initial=2))
    lane = gov.lane("draft", 100, POLICY)

    async def fn() -> None:
        await clock.sleep(1.0)

    await asyncio.gather(*(lane.call(fn) for _ in range(30)))
    assert gov.limit > 2


async def test_fallback_gets_one_serialised_extra_attempt(clock: FakeClock) -> None:
    lane = governor(clock).lane("draft", 10, RetryPolicy(attempts=2, timeout_s=None))
    calls = 0

    async def third_time_lucky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ServerError
        return "ok"

    assert await lane.call_with_fallback(third_time_lucky) == "ok"
    calls = -10
    with pytest.raises(RetriesExhausted) as info:
        await lane.call_with_fallback(third_time_lucky)
    assert info.value.attempts == 3


async def test_cancelled_call_frees_its_slots(clock: FakeClock) -> None:
    gov = governor(clock, AIMDLimit(initial=4))
    lane = gov.lane("draft", 10, POLICY)

    async def slow() -> None:
        await clock.sleep(100.0)

    task = asyncio.create_task(lane.call(slow))
    await clock.sleep(1.0)
    assert lane.inflight == 1 and gov.inflight == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert lane.inflight == 0 and gov.inflight == 0 and gov.limit == 4


async def test_gate_closing_while_queued_for_a_slot_sends_waiter_back(clock: FakeClock) -> None:
    gov = governor(clock, FixedLimit(1))
    lane = gov.lane("draft", 10, POLICY)
    started: list[float] = []

    async def hold() -> None:
        await clock.sleep(2.0)
        gov.cool_down(5.0)

    async def probe() -> None:
        started.append(clock())

    first = asyncio.create_task(lane.call(hold))
    await clock.sleep(1.0)
    await lane.call(probe)
    await first
    assert started == [7.0]


async def test_server_paced_429s_cost_no_retry_budget(clock: FakeClock) -> None:
    budget = RetryBudget(ratio=0.0, min_retries=1, clock=clock)
    lane = governor(clock, budget=budget).lane("draft", 10, RetryPolicy(attempts=4))
    calls = 0

    async def throttled_twice() -> str:
        nonlocal calls
        calls += 1
        if calls % 3:
            raise RateLimited(retry_after=2.0)
        return "ok"

    assert [await lane.call(throttled_twice) for _ in range(3)] == ["ok"] * 3
    assert calls == 9  # every 429 retried although the budget allows one retry in all
    assert budget.can_retry()  # and none of them spent it


async def test_a_spent_budget_delays_retries_but_every_item_completes(clock: FakeClock) -> None:
    budget = RetryBudget(ratio=0.0, min_retries=2, clock=clock)
    lane = governor(clock, FixedLimit(4), budget=budget).lane("draft", 10, RetryPolicy(attempts=3))
    calls = 0

    async def fails_twice() -> str:
        nonlocal calls
        calls += 1
        if calls % 3:
            raise ServerError
        return "ok"

    assert [await lane.call(fails_twice) for _ in range(3)] == ["ok"] * 3
    assert calls == 9
    assert clock() >= 60.0  # four of the six retries waited for the budget's window


async def test_bare_refusals_are_retried_without_spending_the_budget(clock: FakeClock) -> None:
    budget = RetryBudget(ratio=0.0, min_retries=1, clock=clock)
    lane = governor(clock, FixedLimit(4), budget=budget).lane("draft", 10, RetryPolicy(attempts=1))
    calls = 0

    async def refused_twice() -> str:
        nonlocal calls
        calls += 1
        if calls % 3:
            raise RateLimited(retry_after=None)  # a bare 429
        return "ok"

    assert [await lane.call(refused_twice) for _ in range(3)] == ["ok"] * 3
    assert calls == 9 and budget.can_retry()  # refusals never count against attempts=1
    assert clock() == pytest.approx(3 * (0.5 + 1.0))  # backed off in full: the limit is fixed


async def test_a_wait_beyond_max_wait_stops_instead_of_sleeping(clock: FakeClock) -> None:
    lane = governor(clock, max_wait_s=300.0).lane("draft", 10, POLICY)

    async def quota_gone() -> None:
        raise RateLimited(retry_after=86400.0)

    with pytest.raises(WaitTooLong) as info:
        await lane.call(quota_gone)
    assert "86400 s" in str(info.value) and "scheduler.max_wait_s=300" in str(info.value)
    assert clock() < 1.0  # said at once, not after a day


async def test_a_wait_within_a_raised_max_wait_is_obeyed(clock: FakeClock) -> None:
    lane = governor(clock, max_wait_s=1000.0).lane("draft", 10, POLICY)
    calls = 0

    async def once() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RateLimited(retry_after=600.0)
        return "ok"

    assert await lane.call(once) == "ok"
    assert clock() >= 600.0


async def test_a_queued_attempt_is_not_timed_out_while_others_complete(clock: FakeClock) -> None:
    # A one-slot queueing server: each request waits for the one before it. With a 5 s
    # timeout, the fourth waits 9 s in the queue, yet nothing is timed out or sent twice.
    gov = governor(clock, FixedLimit(8))
    lane = gov.lane("draft", 8, RetryPolicy(attempts=1, timeout_s=5.0))
    server = asyncio.Lock()
    sent = 0

    async def queued() -> str:
        nonlocal sent
        sent += 1
        async with server:
            await clock.sleep(3.0)
        return "ok"

    assert await asyncio.gather(*(lane.call(queued) for _ in range(4))) == ["ok"] * 4
    assert sent == 4 and clock() == pytest.approx(12.0)


async def test_stated_limits_are_paced_with_a_safety_margin(clock: FakeClock) -> None:
    gov = governor(clock)
    gov.observe_limits(ServerLimits(limit_requests=600, remaining_requests=50))
    assert gov.pacer.rpm == pytest.approx(600 * 0.97)


async def test_requests_let_through_before_pacing_engaged_are_paced_again(
    clock: FakeClock,
) -> None:
    limits = ServerLimits(limit_requests=60, remaining_requests=0)
    gov = governor(
        clock, FixedLimit(1), feedback=lambda r: Feedback(limits=limits), header_margin=1.0
    )
    lane = gov.lane("draft", 10, POLICY)
    sent: list[float] = []

    async def quick() -> int:
        sent.append(clock())
        await clock.sleep(0.1)
        return 1

    await asyncio.gather(*(lane.call(quick) for _ in range(4)))
    # All four queued for the one slot before any pace was known; every response states
    # 60 rpm with nothing left, so each of the other three waits a second after it.
    assert sent[1:] == pytest.approx([1.1, 2.2, 3.3])


async def test_sends_stay_spaced_at_the_pace_when_slots_free_together(clock: FakeClock) -> None:
    # A bucket of one request refuses any two sends closer than 1/R. Paced before they took
    # their slots, the four queued requests left together the moment four replies came back
    # at once; paced after, each waits its turn.
    gov = governor(clock, FixedLimit(4))
    gov.pacer.learn(600.0)  # 10 a second
    lane = gov.lane("draft", 8, POLICY)
    sent: list[float] = []

    async def ends_at_one() -> int:
        sent.append(clock())
        await clock.sleep(max(1.0 - clock(), 0.5))  # the first four all end at t = 1
        return 1

    await asyncio.gather(*(lane.call(ends_at_one) for _ in range(8)))
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert min(gaps) == pytest.approx(0.1)
    assert sent[4:] == pytest.approx([1.0, 1.1, 1.2, 1.3])


async def test_a_probe_step_on_a_send_reaches_the_pacer(clock: FakeClock) -> None:
    learner = RateLearner(period_s=0.5)
    gov = governor(clock, FixedLimit(64), learner=learner)
    learner.rate = 10.0
    gov.pacer.learn(600.0)
    learner.on_refused(0.0)
    learner.on_throttle(0.0, 0.01)  # refusals come back in 10 ms: silence answers sooner
    learner._changed_at = learner._stepped_at = 0.0
    lane = gov.lane("draft", 64, POLICY)

    async def slow() -> int:
        await clock.sleep(30.0)  # no reply for the whole probe
        return 1

    await asyncio.gather(*(lane.call(slow) for _ in range(20)))
    assert learner.rate is not None and learner.rate > 10.0
    assert gov.pacer.rpm == pytest.approx(learner.rate * 60.0)


async def test_capacity_drop_retries_after_a_short_timer_not_a_long_backoff(
    clock: FakeClock,
) -> None:
    obs = Recorder()
    lane = governor(clock, observer=obs).lane("draft", 10, POLICY)  # 1 s initial backoff
    calls = 0

    async def overloaded_twice() -> str:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise RateLimited(retry_after=None)  # a DROP without Retry-After, like a 503
        return "ok"

    assert await lane.call(overloaded_twice) == "ok"
    assert [e[3] for e in obs.of("retry")] == [0.05, 0.05]  # capped, not 1 s then 2 s


@pytest.mark.parametrize("limit", [FixedLimit(1), FixedLimit(16)])
async def test_behind_a_fixed_limit_a_bare_refusal_backs_off_in_full(
    clock: FakeClock, limit: FixedLimit
) -> None:
    # Nothing else slows a fixed limit's retries (no cut, no pacer): capped at 50 ms, a
    # sequential run hammered a bare 429 twenty times a second.
    obs = Recorder()
    lane = governor(clock, limit, observer=obs).lane("draft", 10, POLICY)  # 1 s initial backoff
    calls = 0

    async def refused_thrice() -> str:
        nonlocal calls
        calls += 1
        if calls <= 3:
            raise RateLimited(retry_after=None)
        return "ok"

    assert await lane.call(refused_thrice) == "ok"
    assert [e[3] for e in obs.of("retry")] == [1.0, 2.0, 4.0]
    assert calls == 4  # refusals never count against attempts=4


async def test_a_drop_s_short_retry_after_is_its_wait_not_a_long_backoff(
    clock: FakeClock,
) -> None:
    # A 503 with "Retry-After: 0.2" (or a 429's): come back then, not after the exponential
    # backoff meant for failures (1 s, then 2 s here); never sooner than it asked.
    obs = Recorder()
    lane = governor(clock, observer=obs).lane("draft", 10, POLICY)
    calls = 0

    async def refused_twice() -> str:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise RateLimited(retry_after=0.2)
        return "ok"

    assert await lane.call(refused_twice) == "ok"
    assert [e[3] for e in obs.of("retry")] == [0.2, 0.2]


async def test_a_cut_s_listening_ends_on_time_while_lanes_wait(clock: FakeClock) -> None:
    # Eight out, the last refused at 5 ms: the cut (to 7) lets one new request out when an
    # earlier one ends (10 ms) and does not refill the slots the other five free (15 ms)
    # until it is answered. Not refused within two of the refusal's round trips (by 20 ms),
    # it was accepted: the ramp lifts the limit then, with lanes already waiting and no new
    # one asking, not when the refused request's retry next asks for a slot (55 ms).
    lane = governor(clock, DeliveryLimit(initial=8)).lane("draft", 32, POLICY)
    sent: list[float] = []
    refused = False

    async def call(i: int) -> int:
        nonlocal refused
        sent.append(clock())
        if i == 7 and not refused:
            refused = True
            await clock.sleep(0.005)
            raise RateLimited(retry_after=None)
        await clock.sleep(0.01 if i == 0 else 0.015 if i < 6 else 10.0)
        return i

    def job(i: int) -> Callable[[], Awaitable[int]]:
        return lambda: call(i)

    tasks = [asyncio.create_task(lane.call(job(i))) for i in range(24)]
    await clock.sleep(0.03)
    assert len(sent) == 8 + 6  # the limit is back at the cut's 7
    assert sent[8] == pytest.approx(0.01) and sent[9:] == pytest.approx([0.02] * 5)
    await asyncio.gather(*tasks)


async def test_a_first_token_reported_only_at_the_end_leaves_nothing_in_service(
    clock: FakeClock,
) -> None:
    # The delivery law counts what the server serves (first token seen, not ended) and drains
    # no lower: a request reported served after it ended would count for the rest of the run.
    limit = DeliveryLimit(initial=4)
    gov = governor(clock, limit, feedback=lambda result: Feedback(output_tokens=10, ttft_s=0.2))
    lane = gov.lane("draft", 100, POLICY)

    async def fn() -> None:
        await clock.sleep(1.0)

    await asyncio.gather(*(lane.call(fn) for _ in range(8)))
    assert limit.serving == 0
