"""A parallel run against every simulator profile, each hiding a rate and a capacity limit.

Each profile refuses as its kind of server does (`postgen.sim.profiles`): headers or none,
429, 503 or 529, Retry-After in seconds, milliseconds or not at all, a queue instead of a
refusal. Told nothing, the run completes every item with few refusals.
"""

from __future__ import annotations

import pytest

from postgen.engine.session import Endpoint, run_async
from postgen.sim import PROFILES, SimConfig, SimServer
from tests.conftest import settings_for

PARALLEL = ("parallel=true", "iterations=20", "concurrency=64", "cache.enabled=false", "quiet=true")
REQUESTS = 20 + 20 + 60 + 1  # candidates, cards, votes, the synthesis


# A local server is driven through its own preset (streamed, its model discovered), with the
# context a user gives llama.cpp (`--n_ctx 4096`, as docs/real-servers.md says).
LOCAL_PRESETS = {"llamacpp": "llm=llamacpp", "ollama": "llm=ollama", "vllm": "llm=vllm"}


@pytest.mark.parametrize("name", sorted(PROFILES))
async def test_a_parallel_run_against_each_profile_completes_every_item(name: str) -> None:
    # A hidden RPM 3000 with a bucket of 1 s, and 6 slots where the profile has none of its
    # own (the local servers keep theirs: 1 to 256, queueing).
    own_slots = PROFILES[name].capacity is not None
    config = SimConfig(
        seed=12,
        time_scale=0.01,
        profile=name,
        rpm=3000,
        rate_burst_s=1.0,
        capacity=None if own_slots else 6,
        n_ctx=4096 if PROFILES[name].n_ctx else None,
    )
    preset = LOCAL_PRESETS.get(name, "llm=sim")
    with SimServer(config) as sim:
        settings = settings_for(*PARALLEL, preset)
        result = await run_async(settings, Endpoint(sim.base_url, None))
        by_status = sim.stats()["by_status"]
    assert result.status == "ok", result.error
    for stage_name, stage in result.stats.stages.items():
        assert stage.succeeded == stage.items and not stage.failed, stage_name
    ok = int(by_status.get("200", 0))
    refused = sum(int(n) for status, n in by_status.items() if status != "200")
    assert ok >= REQUESTS
    assert refused <= 0.15 * ok, by_status


@pytest.mark.parametrize("stream", [False, True])
async def test_a_parallel_run_against_latency_that_varies_completes_every_item(
    stream: bool,
) -> None:
    # Each reply 1-2 x its size's latency at random (a hosted API's jitter), bare 429s at 6
    # slots: compared with the fastest reply of its size, most look queued.
    config = SimConfig(seed=5, time_scale=0.02, profile="bare", capacity=6, jitter=1.0)
    with SimServer(config) as sim:
        settings = settings_for(*PARALLEL, "llm=sim", f"llm.stream={str(stream).lower()}")
        result = await run_async(settings, Endpoint(sim.base_url, None))
        stats = sim.stats()
    assert result.status == "ok", result.error
    for stage_name, stage in result.stats.stages.items():
        assert stage.succeeded == stage.items and not stage.failed, stage_name
    ok = int(stats["by_status"].get("200", 0))
    refused = sum(int(n) for status, n in stats["by_status"].items() if status != "200")
    assert ok >= REQUESTS and refused <= 0.15 * ok, stats["by_status"]
    assert stats["peak_concurrency"] >= 6  # the cap was reached, however slow replies came
