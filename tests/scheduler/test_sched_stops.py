"""The breaker, and the governor's fast start on slow calls, on a fake clock."""

import asyncio

from sched_fakes import FakeClock

from scheduler import (
    Breaker,
    DeliveryLimit,
    Governor,
    Kind,
    NullObserver,
    RetryPolicy,
    Verdict,
    mark_first_token,
)


def _classify(exc: BaseException) -> Verdict:
    return Verdict(Kind.RETRY, "server_error")


def test_breaker_needs_both_the_count_and_the_time() -> None:
    b = Breaker(failures=3, seconds=10.0)
    for t in (0.0, 1.0, 2.0):
        b.failure(t, "refused")
    assert not b.open(2.0)  # three failures, but within 2 s
    assert b.open(10.0)
    b.success(11.0)
    assert not b.open(30.0)
    for t in (12.0, 13.0, 14.0):
        b.failure(t, "timeout")
    assert not b.open(20.0) and b.open(21.0)  # counted from the last success
    assert b.last == "timeout" and b.down_for(21.0) == 10.0


class _Dispatches(NullObserver):
    def __init__(self, clock: FakeClock) -> None:
        self.clock, self.at = clock, []  # type: list[float]

    def on_dispatch(self, stage: str, inflight: int) -> None:
        self.at.append(self.clock())


async def test_twenty_slow_calls_are_in_flight_long_before_the_first_returns(
    clock: FakeClock,
) -> None:
    obs = _Dispatches(clock)
    gov = Governor("ep", DeliveryLimit(), _classify, clock=clock, sleep=clock.sleep, observer=obs)
    lane = gov.lane("candidates", 64, RetryPolicy(timeout_s=None))

    async def slow() -> str:
        await clock.sleep(20.0)
        return "ok"

    assert await asyncio.gather(*(lane.call(slow) for _ in range(20))) == ["ok"] * 20
    assert len(obs.at) == 20 and max(obs.at) < 20.0
    assert clock() < 40.0  # one round, not five


async def test_first_tokens_clock_fast_start_while_calls_still_run(clock: FakeClock) -> None:
    obs = _Dispatches(clock)
    gov = Governor(
        "ep",
        DeliveryLimit(blind_period_s=100.0),
        _classify,
        clock=clock,
        sleep=clock.sleep,
        observer=obs,
    )
    lane = gov.lane("candidates", 64, RetryPolicy(timeout_s=None))

    async def streaming() -> str:
        await clock.sleep(0.5)
        mark_first_token()
        await clock.sleep(30.0)
        return "ok"

    await asyncio.gather(*(lane.call(streaming) for _ in range(32)))
    assert sum(t < 30.0 for t in obs.at) == 32  # acknowledged by first tokens, not replies
