"""Scheduler benchmark: one workload, several strategies, against a standalone simulator.

    python -m benchmarks.scheduler [--quick] [--scenario NAME ...]

Every run drives the real path: postgen's `ChatClient` over loopback HTTP to a
`python -m postgen.sim` subprocess, through a `Governor` + `Lane` built the way
`postgen.scheduling.build_governor` builds them from the composed `conf/`.

Strategies: sequential (1 in flight), fixed 5 (the seed's pool), fixed 16, oracle (a static
limiter told the true limits), adaptive (`conf/scheduler/adaptive.yaml`, told nothing).

Lower bound (DESIGN §6) per run: max((W - B) / R, Σservice / C, critical path), where B is the
simulator's initial bucket (`burst_s` seconds of rate, 10 unless the scenario says: it starts
full, so B requests are free), Σservice
is each request's simulated service time (ttft + per-token time x its output tokens, times the
time scale, computed from the simulator's deterministic content), C is the capacity, integrated
over a schedule when it changes, and the critical path is the longest single request.

`--quick` runs adaptive, the oracle (except where it is told only the lower of two capacities)
and the baseline each target compares with (fixed 16 at capacity 8, fixed 5 at capacity 24);
sequential and, without a rate limit, fixed 5 time a sample and scale it (marked est.).
The overhead scenario runs only in the full run or with `--scenario overhead`.
`--repeat N` runs every row N times and reports the run with the median ratio, with every
run's ratio and refused share in the JSON (`ratios`, `throttled_fractions`): one run on two
shared cores moves by about 0.1 in ratio.
Outputs: a Markdown table on stdout, `benchmarks/results/latest.json` and
`benchmarks/results/<scenario>.png` (limit, in flight, paced rpm and each 429/503 over time).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.simproc import SimProcess
from postgen.config import Settings
from postgen.engine.scheduling import build_governor, retry_policy
from postgen.llm.client import ChatClient
from postgen.llm.types import ChatRequest, Completion
from scheduler import FixedLimit, Governor, NullObserver, RetryPolicy, Verdict

__all__ = ["SCENARIOS", "Scenario", "main"]

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
TTFT_S, PER_TOKEN_S = (
    0.3,
    0.01,
)  # the simulator's defaults; service = (ttft + per_token * n) * scale
SIM_SEED = 7
STREAM_CHUNK_S = 0.01  # streamed rows: the simulator sends a chunk per 10 ms of generation
STRATEGIES = ("sequential", "fixed5", "fixed16", "oracle", "adaptive")
REFUSALS = ("rate_limited", "overloaded", "timeout")


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    requests: int  # W (full run)
    quick_requests: int
    time_scale: float
    rpm: int | None = None
    capacity: int | None = None
    queue: int = 0
    headers: bool = True
    schedule: tuple[tuple[float, int], ...] = ()  # (seconds after start, new capacity)
    clients: int = 1
    retry_after: bool = True
    profile: str | None = None  # a `python -m postgen.sim --profile` name, when it has them
    burst_s: float = 10.0  # seconds of rate the simulator's bucket holds when full
    jitter: float = 0.0  # latency x (1 + jitter x u), u uniform in [0, 1) (`--jitter`)

    def sim_args(self, stream: bool = False) -> list[str]:
        args = ["--time-scale", str(self.time_scale), "--seed", str(SIM_SEED)]
        if stream and self.time_scale > 0:
            # At time scale 0.02 one chunk per token is 5,000 chunks a second per stream: the
            # client's parser, not the law, would be measured. Real servers stream 20-100
            # tokens a second; a chunk per 10 ms of generation keeps that load.
            per_chunk = round(STREAM_CHUNK_S / (PER_TOKEN_S * self.time_scale))
            args += ["--chunk-tokens", str(max(1, per_chunk))]
        if self.profile:
            args += ["--profile", self.profile]
        if not self.retry_after:
            args.append("--no-retry-after")
        if self.rpm:
            args += ["--rpm", str(self.rpm), "--burst-s", str(self.burst_s)]
        if self.capacity:
            args += ["--capacity", str(self.capacity), "--queue", str(self.queue)]
        if not self.headers:
            args.append("--no-rate-headers")
        if self.schedule:
            args += ["--schedule", ",".join(f"{t}:capacity={c}" for t, c in self.schedule)]
        if self.jitter:
            args += ["--jitter", str(self.jitter)]
        return args

    @property
    def burst(self) -> float:
        return max(1.0, self.rpm / 60 * self.burst_s) if self.rpm else 0.0


def _matrix() -> list[Scenario]:
    """Every signal style x {rate limit, capacity limit, both, a mid-run capacity drop}.

    Styles: `headers` (rate-limit headers and Retry-After on every 429) and `bare` (no
    rate-limit headers, no Retry-After: the scheduler is told nothing). Capacity overflow is
    answered 503 by this simulator. Requests take 55-100 ms (time scale 0.02).
    """
    out: list[Scenario] = []
    for style, headers in (("headers", True), ("bare", False)):
        signals = partial(Scenario, headers=headers, retry_after=headers)
        out += [
            signals(f"{style}_rate", f"{style}: hidden RPM 3600", 900, 900, 0.02, 3600),
            signals(f"{style}_capacity", f"{style}: capacity 8", 600, 600, 0.02, capacity=8),
            signals(
                f"{style}_both",
                f"{style}: RPM 3600 + capacity 12",
                900,
                900,
                0.02,
                3600,
                capacity=12,
            ),
            signals(
                f"{style}_drop",
                f"{style}: capacity 12 -> 6 at 3 s",
                800,
                800,
                0.02,
                capacity=12,
                schedule=((3.0, 6),),
            ),
        ]
    return out


def _profiles() -> list[Scenario]:
    """Real providers' refusal styles (`python -m postgen.sim --profile`), told nothing."""
    out = [
        Scenario(
            f"{name}_both",
            f"{name} profile: RPM 3600 + capacity 12",
            900,
            900,
            0.02,
            3600,
            capacity=12,
            profile=name,
        )
        for name in ("openai", "azure", "anthropic")
    ]
    out += [
        Scenario(
            "bare429_capacity",
            "bare profile: capacity 8, overflow answered by a bare 429",
            600,
            600,
            0.02,
            capacity=8,
            profile="bare",
        ),
        Scenario(
            "overload503_capacity",
            "overload503 profile: capacity 8, 503 + Retry-After: 1",
            600,
            600,
            0.02,
            capacity=8,
            profile="overload503",
        ),
        Scenario(
            "llamacpp",
            "llamacpp profile: one slot, unbounded queue",
            40,
            40,
            0.02,
            capacity=1,
            queue=-1,
            profile="llamacpp",
        ),
    ]
    return out


SCENARIOS = {
    s.name: s
    for s in (
        *_matrix(),
        *_profiles(),
        Scenario(
            "queueing",
            "queueing server: capacity 2, unbounded queue",
            120,
            120,
            0.02,
            capacity=2,
            queue=100_000,
        ),
        # At time scale 0.02 a first token takes 6 ms, a fifth of the law's slack for our own
        # read delay (30 ms): a queue shows late. At 0.2 it takes 60 ms, as on a fast server.
        Scenario(
            "queueing_scale02",
            "queueing server: capacity 2, unbounded queue, time scale 0.2",
            120,
            60,
            0.2,
            capacity=2,
            queue=100_000,
        ),
        Scenario("slow_calls", "slow calls (1.6-4 s each), capacity 32", 96, 96, 1.0, capacity=32),
        Scenario(
            "bare_rate_1s",
            "bare: hidden RPM 3600, a bucket of 1 s",
            600,
            600,
            0.02,
            3600,
            headers=False,
            retry_after=False,
            burst_s=1.0,
        ),
        # A bucket of one request (nginx's limit_req without a burst, a strict GCRA): it
        # refuses any two sends closer than 1/R, at any level, so at first it reads as a
        # concurrency cap, and later refusals of clumps as a rate far below the true one.
        Scenario(
            "bare_rate_strict",
            "bare: hidden RPM 3600, a bucket of 1 request, 0.3-0.5 s calls",
            600,
            600,
            0.1,
            3600,
            headers=False,
            retry_after=False,
            burst_s=1 / 60,
        ),
        Scenario(
            "slow_rate",
            "bare: hidden RPM 600, a bucket of 1 s, slow calls (1.6-4 s)",
            100,
            100,
            1.0,
            600,
            headers=False,
            retry_after=False,
            burst_s=1.0,
        ),
        # A hosted API's latency varies on its own: each reply takes 1-2x what its size says.
        # Read against the fastest reply of its size, that looks like a queue at any load.
        Scenario(
            "jitter_capacity",
            "bare: capacity 8, latency x 1-2 at random",
            600,
            600,
            0.02,
            capacity=8,
            headers=False,
            retry_after=False,
            jitter=1.0,
        ),
        Scenario(
            "jitter_slow",
            "slow calls (1.6-8 s each, latency x 1-2 at random), capacity 32",
            96,
            96,
            1.0,
            capacity=32,
            jitter=1.0,
        ),
        Scenario(
            "two_clients",
            "two processes, one RPM 3600 quota, bare 429s",
            1200,
            1200,
            0.02,
            rpm=3600,
            clients=2,
            headers=False,
            retry_after=False,
        ),
    )
}
# --quick runs the adaptive scheduler, the oracle (not where it is told only the lower of two
# capacities) and fixed 16; the full run runs every strategy.
QUICK_BASELINES: dict[str, tuple[str, ...]] = {}
SAMPLED = 200  # requests timed for an estimated row (sequential; fixed 5 with no rate limit)


def quick_strategies(sc: Scenario, wanted: list[str]) -> list[str]:
    keep = {"adaptive", "fixed16", *QUICK_BASELINES.get(sc.name, ()), "oracle"}
    return [s for s in wanted if s in keep]


# --- building strategies the way postgen does -------------------------------------------------


def compose_settings(*overrides: str) -> Settings:
    """The real conf/ composed with overrides, as `python -m postgen` composes it."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from postgen.cli.compose import load_settings, register_schema

    register_schema()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return load_settings(compose(config_name="config", overrides=list(overrides)))


def strategy_settings(strategy: str) -> Settings:
    overrides = {
        "sequential": ["parallel=false"],
        "fixed5": ["parallel=true", "scheduler=fixed", "concurrency=5"],
        "fixed16": ["parallel=true", "scheduler=fixed", "concurrency=16"],
        "oracle": ["parallel=true", "scheduler=fixed", "concurrency=256"],
        "adaptive": ["parallel=true", "scheduler=adaptive", "concurrency=256"],
    }[strategy]
    return compose_settings(*overrides, "cache.enabled=false")


def build(
    strategy: str, sc: Scenario, observer: Recorder, share: int = 1
) -> tuple[Governor, int, RetryPolicy]:
    """Governor, lane ceiling and retry policy for one strategy (oracle: told the true limits)."""
    settings = strategy_settings(strategy)
    policy = retry_policy(settings.stage.get("candidates").retry)
    if strategy != "oracle":
        return build_governor(settings, observer), settings.stage_concurrency("candidates"), policy
    from postgen.llm.classify import feedback, verdict_for

    capacity = min(c for _, c in sc.schedule) if sc.schedule else sc.capacity
    slots = capacity or 256
    gov = Governor(
        "oracle",
        FixedLimit(slots),
        verdict_for,
        feedback,
        observer=observer,
        rpm=sc.rpm / share if sc.rpm else None,
        pace_burst_s=sc.burst_s,  # what the simulator's bucket holds
        pace_from_headers=False,
    )
    return gov, slots, policy


# --- one client run ------------------------------------------------------------------------------


class Recorder(NullObserver):
    """Counts outcomes and retries; a sampler adds the time series."""

    def __init__(self) -> None:
        self.outcomes: Counter[str] = Counter()
        self.retries = 0
        self.t0 = time.monotonic()
        self.events: list[tuple[float, str]] = []  # (seconds since start, reason) per attempt

    def on_complete(self, stage: str, verdict: Verdict, latency_s: float, inflight: int) -> None:
        self.outcomes[verdict.reason] += 1
        self.events.append((round(time.monotonic() - self.t0, 4), verdict.reason))

    def on_retry(self, stage: str, attempt: int, reason: str, wait_s: float) -> None:
        self.retries += 1


def workload(n: int, offset: int = 0) -> list[ChatRequest]:
    """n candidate-article prompts of varied length (about 130-380 output tokens)."""
    out = []
    for i in range(offset, offset + n):
        words = 80 + (i * 37) % 160
        text = f"<topic>Benchmark topic {i}</topic>\n<words>{words}</words>"
        out.append(
            ChatRequest(
                model="sim-1",
                messages=[{"role": "user", "content": text}],
                max_tokens=int(words * 1.6),
                seed=i,
            )
        )
    return out


@dataclass
class RunRecord:
    strategy: str
    requests: int
    makespan_s: float
    attempts: int
    outcomes: dict[str, int]
    retries: int
    failed: int
    services_s: list[float]
    done_at: list[float]  # wall-clock time.time() of each success
    series: list[tuple[float, int, int, float | None]] = field(default_factory=list)
    wall_start: float = 0.0
    cpu_s: float = 0.0
    events: list[tuple[float, str]] = field(default_factory=list)


async def drive(
    base_url: str,
    strategy: str,
    sc: Scenario,
    requests: list[ChatRequest],
    share: int = 1,
    *,
    stream: bool = False,
) -> RunRecord:
    """Run every request through a governor and lane; sample limit and in-flight every 10 ms.

    `stream`: the client streams (as `llm.stream=true` does), so the scheduler hears first tokens.
    """
    rec = Recorder()
    gov, ceiling, policy = build(strategy, sc, rec, share)
    lane = gov.lane("bench", ceiling, policy)
    client = ChatClient(base_url, stream=stream)
    series: list[tuple[float, int, int, float | None]] = []
    done_at: list[float] = []
    services: list[float] = []
    t0 = rec.t0 = time.monotonic()

    async def sample() -> None:
        while True:
            rpm = gov.pacer.rpm
            series.append((time.monotonic() - t0, gov.limit, gov.inflight, rpm))
            await asyncio.sleep(0.01)

    async def one(request: ChatRequest) -> Completion:
        async def attempt() -> Completion:
            return await client.complete(request)

        est = len(request.messages[0]["content"]) // 4 + (request.max_tokens or 0)
        result = await lane.call_with_fallback(attempt, est_tokens=est)
        done_at.append(time.time())
        services.append((TTFT_S + PER_TOKEN_S * result.usage.output_tokens) * sc.time_scale)
        return result

    sampler = asyncio.create_task(sample())
    wall_start, cpu0 = time.time(), time.process_time()
    try:
        results = await asyncio.gather(*(one(r) for r in requests), return_exceptions=True)
    finally:
        makespan = time.monotonic() - t0
        cpu = time.process_time() - cpu0
        sampler.cancel()
        await client.aclose()
    failed = sum(isinstance(r, BaseException) for r in results)
    return RunRecord(
        strategy,
        len(requests),
        makespan,
        sum(rec.outcomes.values()),
        dict(rec.outcomes),
        rec.retries,
        failed,
        services,
        done_at,
        series,
        wall_start,
        cpu,
        rec.events,
    )


# --- lower bound and summary ---------------------------------------------------------------------


def service_times(sc: Scenario, requests: list[ChatRequest]) -> list[float]:
    """Each request's simulated service time, from the simulator's own deterministic content."""
    from postgen.sim import SimConfig
    from postgen.sim.content import estimate_tokens, generate
    from postgen.sim.faults import slowness

    config = SimConfig(seed=SIM_SEED, jitter=sc.jitter)
    out = []
    for r in requests:
        content = generate(r.payload(), SIM_SEED).content
        factor = slowness(config, content)
        out.append((TTFT_S + PER_TOKEN_S * estimate_tokens(content)) * sc.time_scale * factor)
    return out


def lower_bound(sc: Scenario, services: list[float], offset_s: float) -> float:
    """max((W - B) / R, Σservice / C(t), critical path); offset = run start - sim start."""
    w = len(services)
    bounds = [max(services, default=0.0)]
    if sc.rpm:
        bounds.append(max(0.0, w - sc.burst) / (sc.rpm / 60))
    if sc.capacity:
        bounds.append(_capacity_time(sc, sum(services), offset_s))
    return max(bounds)


def _capacity_time(sc: Scenario, work: float, offset_s: float) -> float:
    """Time to serve `work` server-seconds with capacity following the schedule."""
    assert sc.capacity is not None
    t, cap = 0.0, float(sc.capacity)
    for at, new in sc.schedule:
        span = max(0.0, at - offset_s - t)
        if work <= span * cap:
            return t + work / cap
        work -= span * cap
        t += span
        cap = float(new)
    return t + work / cap


def summarize(sc: Scenario, rec: RunRecord, bound: float) -> dict[str, Any]:
    throttled = sum(rec.outcomes.get(k, 0) for k in REFUSALS)
    return {
        "scenario": sc.name,
        "strategy": rec.strategy,
        "requests": rec.requests,
        "makespan_s": round(rec.makespan_s, 3),
        "lower_bound_s": round(bound, 3),
        "ratio": round(rec.makespan_s / bound, 3) if bound else None,
        "attempts": rec.attempts,
        "throttled_fraction": round(throttled / max(rec.attempts, 1), 4),
        "outcomes": rec.outcomes,
        "retries_per_request": round(rec.retries / max(rec.requests, 1), 3),
        "failed": rec.failed,
        "cpu_s": round(rec.cpu_s, 3),
    }


# --- scenarios -----------------------------------------------------------------------------------


def run_single(
    sc: Scenario, strategy: str, quick: bool, stream: bool = False
) -> tuple[dict[str, Any], RunRecord]:
    n = sc.quick_requests if quick else sc.requests
    # Sequential, and fixed 5 without a rate limit, run at a steady pace: time a sample, scale.
    estimated = strategy == "sequential" or (quick and strategy == "fixed5" and not sc.rpm)
    if estimated:
        n = min(n, 30 if strategy == "sequential" else SAMPLED)
    with SimProcess(sc.sim_args(stream)) as sim:
        rec = asyncio.run(drive(sim.base_url, strategy, sc, workload(n), stream=stream))
        offset = rec.wall_start - time.time() + time.monotonic() - sim.started_at
        peak_held = sim.stats().get("peak_concurrency")
    full_n = sc.quick_requests if quick else sc.requests
    if estimated:
        rec.makespan_s *= full_n / n
        rec.requests = full_n
    services = service_times(sc, workload(full_n))
    row = summarize(sc, rec, lower_bound(sc, services, offset))
    row["estimated"] = estimated
    row["stream"] = stream
    row["peak_held"] = peak_held
    if sc.schedule and strategy == "adaptive":
        row["recovery"] = recovery(sc, rec, offset)
    return row, rec


RECOVERY_WINDOW_S = 1.0  # the "quota window" of a capacity change: about 15 round trips


def recovery(sc: Scenario, rec: RunRecord, offset: float) -> dict[str, Any]:
    """After the capacity drop: how soon every 1 s window is back at the new capacity.

    A window [t, t + 1 s) is good when its successes reach 90% of what the new capacity can
    serve (C / mean service time) and under 1% of its attempts were refused (503 or 429).
    Recovery is the first t after the drop from which every window (sliding by 0.25 s) is
    good, up to the tail where fewer than 3·C requests are left.
    """
    drop = sc.schedule[0][0] - offset
    cap = sc.schedule[0][1]
    mean_service = sum(rec.services_s) / len(rec.services_s)
    target = 0.9 * cap / mean_service * RECOVERY_WINDOW_S
    oks = sorted(t for t, r in rec.events if r == "ok")
    end = oks[max(0, len(oks) - 3 * cap - 1)]
    starts = [drop + k * 0.25 for k in range(int((end - RECOVERY_WINDOW_S - drop) / 0.25) + 1)]
    good = []
    for t in starts:
        inside = [r for ts, r in rec.events if t <= ts < t + RECOVERY_WINDOW_S]
        refused = sum(r in ("overloaded", "rate_limited") for r in inside)
        n_ok = len(inside) - refused
        good.append(n_ok >= target and refused < 0.01 * max(len(inside), 1))
    back = next((t - drop for i, t in enumerate(starts) if all(good[i:])), None)
    limits_after = [lim for (ts, lim, _, _) in rec.series if ts >= drop + (back or 0.0)]
    inflight_after = [n for (ts, _, n, _) in rec.series if drop + (back or 0.0) <= ts <= end]
    refused_after = [r for ts, r in rec.events if ts >= drop + (back or 0.0)]
    return {
        "drop_at_s": round(drop, 3),
        "new_capacity": cap,
        "window_s": RECOVERY_WINDOW_S,
        "back_after_s": None if back is None else round(back, 3),
        "back_after_windows": None if back is None else round(back / RECOVERY_WINDOW_S, 2),
        "good_windows": f"{sum(good)}/{len(good)}",
        "refused_after_back": round(
            sum(r != "ok" for r in refused_after) / max(len(refused_after), 1), 4
        ),
        "mean_limit_after": round(sum(limits_after) / len(limits_after), 1)
        if limits_after
        else None,
        "mean_inflight_after": round(sum(inflight_after) / len(inflight_after), 1)
        if inflight_after
        else None,
    }


def run_two_clients(
    sc: Scenario, strategy: str, quick: bool, stream: bool = False
) -> tuple[dict[str, Any], list[Any]]:
    n = (sc.quick_requests if quick else sc.requests) // sc.clients
    with SimProcess(sc.sim_args(stream)) as sim:
        procs, outs = [], []
        for k in range(sc.clients):
            out = RESULTS / f".client{k}.json"
            outs.append(out)
            cmd = [sys.executable, "-m", "benchmarks.scheduler", "--client", sim.base_url]
            cmd += ["--strategy", strategy, "--scenario", sc.name, "--n", str(n)]
            cmd += ["--offset", str(k * n), "--out", str(out)]
            cmd += ["--stream"] if stream else []
            procs.append(subprocess.Popen(cmd, cwd=REPO))
        for p in procs:
            p.wait()
        stats = sim.stats()
    data = [json.loads(o.read_text()) for o in outs]
    for o in outs:
        o.unlink()
    start = min(d["wall_start"] for d in data)
    end_overlap = min(max(d["done_at"]) for d in data)
    end = max(max(d["done_at"]) for d in data)
    rates = [
        sum(start <= t <= end_overlap for t in d["done_at"]) / (end_overlap - start) for d in data
    ]
    jain = sum(rates) ** 2 / (len(rates) * sum(r * r for r in rates))
    assert sc.rpm is not None
    quota = sc.burst + sc.rpm / 60 * (end - start)
    total = sum(len(d["done_at"]) for d in data)
    attempts = sum(d["attempts"] for d in data)
    throttled = sum(d["outcomes"].get(k, 0) for d in data for k in REFUSALS)
    bound = lower_bound(sc, service_times(sc, workload(n * sc.clients)), 0.0)
    row = {
        "scenario": sc.name,
        "strategy": strategy,
        "requests": n * sc.clients,
        "makespan_s": round(end - start, 3),
        "lower_bound_s": round(bound, 3),
        "ratio": round((end - start) / bound, 3),
        "attempts": attempts,
        "throttled_fraction": round(throttled / max(attempts, 1), 4),
        "retries_per_request": round(sum(d["retries"] for d in data) / (n * sc.clients), 3),
        "failed": sum(d["failed"] for d in data),
        "client_rates_per_s": [round(r, 2) for r in rates],
        "jain_index": round(jain, 4),
        "combined_share": round(total / quota, 3),
        "sim_status_counts": stats.get("by_status"),
        "peak_held": stats.get("peak_concurrency"),
        "estimated": False,
        "stream": stream,
    }
    return row, data


def client_main(args: argparse.Namespace) -> int:
    """One client process of the two-client scenario; writes its record as JSON."""
    sc = SCENARIOS[args.scenario[0]]
    requests = workload(args.n, args.offset)
    rec = asyncio.run(
        drive(args.client, args.strategy, sc, requests, share=sc.clients, stream=args.stream)
    )
    Path(args.out).write_text(json.dumps(asdict(rec)))
    return 0


# --- overhead -----------------------------------------------------------------------------------


def run_overhead(quick: bool) -> dict[str, Any]:
    """Zero-latency unlimited simulator: requests/s and CPU per request of this process."""
    n = 2000
    sc = Scenario("overhead", "no limits, time-scale 0", n, n, 0.0)
    generic = [
        ChatRequest(
            model="sim-1", messages=[{"role": "user", "content": f"Say hi {i}"}], max_tokens=16
        )
        for i in range(n)
    ]
    with SimProcess(sc.sim_args()) as sim:
        asyncio.run(drive(sim.base_url, "adaptive", sc, generic[:200]))  # warm up
        rec = asyncio.run(drive(sim.base_url, "adaptive", sc, generic))
    row: dict[str, Any] = {
        "scenario": "overhead",
        "requests": n,
        "failed": rec.failed,
        "makespan_s": round(rec.makespan_s, 3),
        "requests_per_s": round(n / rec.makespan_s, 1),
        "cpu_s_per_request": round(rec.cpu_s / n, 6),
        "cpu_bound_requests_per_s": round(n / rec.cpu_s, 1),
    }
    row.update(pipeline_rss(2000))
    return row


def pipeline_rss(iterations: int) -> dict[str, Any]:
    """Peak RSS of `python -m postgen parallel=true iterations=N` (zero latency, no cache)."""
    tmp = tempfile.TemporaryDirectory(prefix="postgen-rss-")
    out = Path(tmp.name)
    cmd = [
        sys.executable,
        "-m",
        "postgen",
        "parallel=true",
        f"iterations={iterations}",
        "llm.sim.time_scale=0",
        "cache.enabled=false",
        "quiet=true",
        f"hydra.run.dir={out}",
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
    wall = time.monotonic() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    status = None
    run_json = out / "run.json"
    if run_json.exists():
        status = json.loads(run_json.read_text()).get("status")
    tmp.cleanup()
    return {
        "pipeline_iterations": iterations,
        "pipeline_exit": proc.returncode,
        "pipeline_status": status,
        "pipeline_wall_s": round(wall, 2),
        "pipeline_peak_rss_mb": round(max(peak_kb, before) / 1024, 1),
    }


# --- output ---------------------------------------------------------------------------------------


def markdown(rows: list[dict[str, Any]]) -> str:
    head = (
        "| scenario | strategy | W | makespan s | bound s | ratio | refused "
        "| retries/req | lost | peak held |"
    )
    lines = [head, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in rows:
        if r["scenario"] == "overhead":
            continue
        est = " (est.)" if r.get("estimated") else ""
        lines.append(
            f"| {r['scenario']} | {r['strategy']} | {r['requests']} | {r['makespan_s']:.2f}{est} "
            f"| {r['lower_bound_s']:.2f} | {r['ratio']:.2f} | {100 * r['throttled_fraction']:.1f}% "
            f"| {r['retries_per_request']:.2f} | {r['failed']} | {r.get('peak_held', '')} |"
        )
    return "\n".join(lines)


def plot(sc: Scenario, records: dict[str, Any], events: dict[str, Any]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(records), 1, figsize=(9, 2.2 * len(records)), squeeze=False)
    for ax, (label, series) in zip(axes[:, 0], records.items(), strict=True):
        if series:
            ts = [s[0] for s in series]
            ax.step(ts, [min(s[1], 64) for s in series], where="post", label="limit (≤64 shown)")
            ax.plot(ts, [s[2] for s in series], label="in flight", linewidth=0.8)
            refusals = [t for t, r in events.get(label, []) if r in ("overloaded", "rate_limited")]
            if refusals:
                ax.plot(refusals, [0.5] * len(refusals), "r|", markersize=8, label="429/503")
            if any(s[3] for s in series):
                ax2 = ax.twinx()
                ax2.plot(ts, [s[3] or math.nan for s in series], "g--", linewidth=0.8)
                ax2.set_ylabel("paced rpm", color="g")
        ax.set_title(f"{sc.title} — {label}", fontsize=9)
        ax.set_ylabel("requests")
        ax.legend(loc="upper right", fontsize=7)
    axes[-1, 0].set_xlabel("seconds")
    fig.tight_layout()
    path = RESULTS / f"{sc.name}.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


Traces = dict[str, tuple[Any, Any]]  # label -> (limit/in-flight series, refusal events)


def run_row(sc: Scenario, strategy: str, args: argparse.Namespace) -> tuple[dict[str, Any], Traces]:
    """One run of one row: its summary and, per client, what to plot."""
    if sc.clients > 1:
        row, data = run_two_clients(sc, strategy, args.quick, args.stream)
        traces = {f"{strategy} client {k}": (d["series"], d["events"]) for k, d in enumerate(data)}
        return row, traces
    row, rec = run_single(sc, strategy, args.quick, args.stream)
    return row, {strategy: (rec.series, rec.events)}


def median_run(runs: list[tuple[dict[str, Any], Traces]]) -> tuple[dict[str, Any], Traces]:
    """The run with the median ratio, with every run's ratio and refused share beside it.

    The benchmark shares two cores with the simulator: a single run moves by about 0.1 in
    ratio and a few points of refused share, so a row is worth quoting only as a median.
    """
    if len(runs) == 1:
        return runs[0]
    ordered = sorted(runs, key=lambda run: float(run[0]["ratio"] or 0.0))
    row, traces = ordered[(len(ordered) - 1) // 2]
    row = {
        **row,
        "runs": len(runs),
        "ratios": [r["ratio"] for r, _ in runs],
        "throttled_fractions": [r["throttled_fraction"] for r, _ in runs],
        "failed_each": [r["failed"] for r, _ in runs],
    }
    return row, traces


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.scheduler")
    p.add_argument("--quick", action="store_true", help="smaller workloads (< 2 minutes)")
    p.add_argument(
        "--scenario", action="append", help="run only these (repeatable); 'overhead' too"
    )
    p.add_argument("--strategy", action="append", help="run only these strategies")
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run each row N times; report the median run by ratio, with the ranges",
    )
    p.add_argument(
        "--stream", action="store_true", help="the client streams (llm.stream=true): first tokens"
    )
    p.add_argument("--client", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    p.add_argument("--offset", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.client:
        args.strategy = args.strategy[0]
        return client_main(args)
    names = args.scenario or [*SCENARIOS, *([] if args.quick else ["overhead"])]
    strategies = args.strategy or list(STRATEGIES)
    RESULTS.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PYTHONHASHSEED", "0")
    started = time.monotonic()
    rows: list[dict[str, Any]] = []
    for name in names:
        if name == "overhead":
            rows.append(run_overhead(args.quick))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
            continue
        sc = SCENARIOS[name]
        series: dict[str, Any] = {}
        events: dict[str, Any] = {}
        for strategy in quick_strategies(sc, strategies) if args.quick else strategies:
            if sc.clients > 1 and strategy == "sequential":
                continue
            runs = [run_row(sc, strategy, args) for _ in range(max(1, args.repeat))]
            row, traces = median_run(runs)
            for label, (trace, evs) in traces.items():
                series[label], events[label] = trace, evs
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
        plot(sc, series, events)
    result = {
        "quick": args.quick,
        "seconds": round(time.monotonic() - started, 1),
        "scenarios": {n: asdict(SCENARIOS[n]) for n in names if n in SCENARIOS},
        "rows": rows,
    }
    (RESULTS / "latest.json").write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(rows))
    for r in rows:
        if r["scenario"] == "overhead":
            print(f"\noverhead: {json.dumps(r)}")
        elif "jain_index" in r:
            print(
                f"\n{r['scenario']} {r['strategy']}: Jain {r['jain_index']}, "
                f"combined share {r['combined_share']}, rates {r['client_rates_per_s']}"
            )
        elif "recovery" in r:
            print(f"\n{r['scenario']} {r['strategy']} recovery: {json.dumps(r['recovery'])}")
    print(f"\n{result['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
