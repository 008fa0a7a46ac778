"""Pure pieces: buckets, the gate, duration format, the schedule parser, prompt parsing."""

from __future__ import annotations

import asyncio

import pytest

from postgen.sim import ScheduleStep, SimConfig, parse_schedule
from postgen.sim.faults import slowness
from postgen.sim.limits import CapacityGate, Overloaded, TokenBucket, format_duration
from postgen.sim.prompt import parse_criteria, read_prompt


def test_bucket_bursts_a_sixth_then_refills_per_second() -> None:
    bucket = TokenBucket(120, now=0.0)  # burst 20, 2 per second
    for _ in range(20):
        assert bucket.wait_for(1, 0.0) == 0
        bucket.take(1, 0.0)
    assert bucket.wait_for(1, 0.0) == pytest.approx(0.5)
    assert bucket.remaining(1.0) == 2
    assert bucket.reset_in(1.0) == pytest.approx(9.0)
    bucket.set_limit(60, 1.0)
    assert bucket.burst == 10


def test_bucket_burst_is_burst_s_of_the_rate() -> None:
    bucket = TokenBucket(600, now=0.0, burst_s=1.0)  # 10 per second, 10 at once
    assert bucket.remaining(0.0) == 10
    bucket.take(10, 0.0)
    assert bucket.wait_for(1, 0.0) == pytest.approx(0.1)
    assert bucket.remaining(0.5) == 5


def test_oversized_cost_needs_a_full_bucket() -> None:
    bucket = TokenBucket(60, now=0.0)
    assert bucket.wait_for(1000, 0.0) == 0


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.25, "250ms"), (1, "1s"), (2.5, "2.5s"), (360, "6m0s"), (3723, "1h2m3s")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


async def test_gate_queues_then_refuses() -> None:
    gate = CapacityGate(1, queue=1)
    await gate.acquire()
    waiter = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    with pytest.raises(Overloaded):
        await gate.acquire()
    gate.release()
    await waiter
    assert gate.in_service == 1 and gate.waiting == 0
    gate.set_capacity(None)
    await gate.acquire()
    assert gate.in_service == 2


def test_parse_schedule() -> None:
    assert parse_schedule("30:capacity=4,60:rpm=120;tpm=none") == (
        ScheduleStep(30, capacity=4),
        ScheduleStep(60, rpm=120, tpm=0),
    )
    with pytest.raises(ValueError, match="schedule"):
        parse_schedule("30:speed=2")


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="error_rate"):
        SimConfig(error_rate=1.5)
    with pytest.raises(ValueError, match="rpm"):
        SimConfig(rpm=0)
    with pytest.raises(ValueError, match="jitter"):
        SimConfig(jitter=-0.5)


def test_jitter_slows_requests_by_a_seeded_factor_independent_of_their_size() -> None:
    replies = [f"reply {n}" for n in range(400)]
    assert {slowness(SimConfig(), r) for r in replies} == {1.0}
    factors = [slowness(SimConfig(jitter=1.0, seed=3), r) for r in replies]
    assert factors == [slowness(SimConfig(jitter=1.0, seed=3), r) for r in replies]  # a retry
    assert all(1.0 <= f < 2.0 for f in factors)
    assert min(factors) < 1.1 and max(factors) > 1.9  # spread over the whole range
    assert factors != [slowness(SimConfig(jitter=1.0, seed=4), r) for r in replies]


def test_criteria_and_kind_detection() -> None:
    text = "- hook_strength: pull\n2. cta_clarity: next step\n**originality**: new\nnoise"
    assert parse_criteria(text) == ["hook_strength", "cta_clarity", "originality"]
    assert parse_criteria('["a", "b"]') == ["a", "b"]
    messages = [{"role": "user", "content": [{"type": "text", "text": "<cards>[]</cards>"}]}]
    assert read_prompt(messages).kind == "synthesize"
    assert read_prompt([{"role": "user", "content": "<card>{}</card>"}]).kind == "score"
    assert read_prompt([{"role": "assistant", "content": "<card>"}]).kind == "generic"


def test_config_from_mapping() -> None:
    config = SimConfig.from_mapping({"rpm": 60, "schedule": "5:capacity=2", "models": ["m"]})
    assert config.schedule == (ScheduleStep(5, capacity=2),) and config.models == ("m",)
    with pytest.raises(ValueError, match="unknown simulator option"):
        SimConfig.from_mapping({"speed": 2})
