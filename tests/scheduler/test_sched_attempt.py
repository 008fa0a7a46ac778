"""`scheduler.mark_first_token`: a no-op outside an attempt, TTFT on the injected clock inside."""

import asyncio
from typing import Any

from sched_fakes import FakeClock

from scheduler import (
    AIMDLimit,
    DeliveryLimit,
    Governor,
    Kind,
    LimiterBucket,
    RetryPolicy,
    Verdict,
    mark_first_token,
)


def _classify(exc: BaseException) -> Verdict:
    return Verdict(Kind.FAIL, "error")


class _Recording(AIMDLimit):
    def __init__(self) -> None:
        super().__init__(initial=4)
        self.first_tokens: list[tuple[str, float, float]] = []

    def first_token(self, stage: str, sent_at: float, ttft_s: float) -> None:
        self.first_tokens.append((stage, sent_at, ttft_s))


def test_mark_first_token_outside_an_attempt_does_nothing() -> None:
    mark_first_token()  # no lane attempt: nothing to record, nothing raised


async def test_first_token_is_timed_on_the_injected_clock_once(clock: FakeClock) -> None:
    limit = _Recording()
    gov = Governor("ep", limit, _classify, clock=clock, sleep=clock.sleep)
    lane = gov.lane("draft", 4, RetryPolicy(timeout_s=None))

    async def streaming_call() -> str:
        await clock.sleep(0.25)
        mark_first_token()
        mark_first_token()  # a second chunk: ignored
        await clock.sleep(1.0)
        return "done"

    assert await lane.call(streaming_call) == "done"
    assert limit.first_tokens == [("draft", 0.0, 0.25)]
    mark_first_token()  # after the attempt: outside again
    assert len(limit.first_tokens) == 1


async def test_limiter_bucket_uses_aiolimiter_capacity() -> None:
    bucket = LimiterBucket(rate_per_min=60.0, burst=3.0)
    for _ in range(3):
        assert bucket.wait_s(1.0) == 0.0
        await bucket.take(1.0)
    assert bucket.wait_s(1.0) > 0  # burst spent: the next must wait for a drip
    replacing: Any = LimiterBucket(rate_per_min=60.0, burst=3.0, fresh=False)
    assert replacing.wait_s(1.0) > 0  # a replacement starts spent: no clump at a rate change


async def test_first_tokens_ramp_slow_calls_before_any_reply(clock: FakeClock) -> None:
    # 40 calls that answer their first token in 0.3 s and finish after 3.3 s. The governor
    # ticks the law's paced growth (not the 3 s blind doubling it armed at the start), so
    # all 40 are out within a few rounds of first tokens, long before the first reply.
    gov = Governor("ep", DeliveryLimit(initial=4), _classify, clock=clock, sleep=clock.sleep)
    lane = gov.lane("draft", 64, RetryPolicy(timeout_s=None))
    started: list[float] = []

    async def slow_streaming_call() -> str:
        started.append(clock())
        await clock.sleep(0.3)
        mark_first_token()
        await clock.sleep(3.0)
        return "done"

    results = await asyncio.gather(*(lane.call(slow_streaming_call) for _ in range(40)))
    assert results == ["done"] * 40
    assert max(started) < 2.0  # before any reply (3.3 s) and before blind doubling (3 s)
    assert gov.limit >= 40
