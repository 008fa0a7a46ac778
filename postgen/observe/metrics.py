"""Prometheus series of one run: names, the scheduler observer that feeds them, exposition.

Every run builds its own `CollectorRegistry` (never the process-wide default), so the jobs
of a sweep that share a process never collide on duplicated series. Labels are bounded:
`stage`, `model`, `outcome`, `reason` (plus the constant labels of `postgen_run_info`).
The live exporter adds the run's identity (`run_id`, and `sweep_job` in a sweep) to every
series, as the Pushgateway adds the same grouping key to a pushed run: a dashboard selects
one run by `run_id` whichever way its series arrived.

Two sources feed the registry:

- `MetricsObserver`, a scheduler `Observer`: requests, latency, retries, waits, in-flight,
  the adaptive limit, the cool-down gate, limit changes, last success;
- `StatsCollector`, read at scrape time from `RunStats`: items, tokens, cached calls and the
  per-stage ceilings and effective limits.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
    push_to_gateway,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from postgen.config import STAGES, Settings
from postgen.domain import CardScore
from postgen.observe.stats import RunStats
from scheduler import Kind, Verdict
from scheduler.limits import LIMIT_REASONS as LAW_REASONS

__all__ = [
    "DURATION_BUCKETS_S",
    "METRIC_NAMES",
    "OUTCOMES",
    "PUSH_JOB",
    "MetricsObserver",
    "RunMetrics",
    "StatsCollector",
    "initial_limit",
    "serve_exporter",
]

# Metric names, in one place. Counters are declared without `_total`; the client adds it.
REQUESTS = "postgen_requests"
REQUEST_DURATION = "postgen_request_duration_seconds"
RETRIES = "postgen_retries"
WAIT = "postgen_wait_seconds"
INFLIGHT = "postgen_inflight_requests"
SCHEDULER_LIMIT = "postgen_scheduler_concurrency_limit"
LIMIT_CHANGES = "postgen_scheduler_limit_changes"
COOLDOWN_ACTIVE = "postgen_cooldown_active"
COOLDOWNS = "postgen_cooldowns"
LAST_SUCCESS = "postgen_last_success_timestamp_seconds"
RUN_START = "postgen_run_start_timestamp_seconds"
RUN_INFO = "postgen_run"  # Info adds `_info`
VOTE_SPREAD = "postgen_judge_vote_stdev"
ITEMS = "postgen_items_total"
ITEMS_SUCCEEDED = "postgen_items_succeeded_total"
ITEMS_FAILED = "postgen_items_failed_total"
INPUT_TOKENS = "postgen_input_tokens_total"
OUTPUT_TOKENS = "postgen_output_tokens_total"
CACHED = "postgen_cached_requests_total"
STAGE_CEILING = "postgen_stage_concurrency_ceiling"
STAGE_LIMIT = "postgen_stage_concurrency_limit"

# Names as they appear in the exposition (for docs and tests).
METRIC_NAMES = (
    f"{REQUESTS}_total",
    REQUEST_DURATION,
    f"{RETRIES}_total",
    f"{WAIT}_total",
    INFLIGHT,
    SCHEDULER_LIMIT,
    f"{LIMIT_CHANGES}_total",
    COOLDOWN_ACTIVE,
    f"{COOLDOWNS}_total",
    LAST_SUCCESS,
    RUN_START,
    f"{RUN_INFO}_info",
    VOTE_SPREAD,
    ITEMS,
    ITEMS_SUCCEEDED,
    ITEMS_FAILED,
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    CACHED,
    STAGE_CEILING,
    STAGE_LIMIT,
)

PUSH_JOB = "postgen"
DURATION_BUCKETS_S = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
SPREAD_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)

# Bounded label values. Anything else the classifier says is folded into "error"/"other".
OUTCOMES = (
    "success",
    "rate_limited",
    "overloaded",
    "timeout",
    "server_error",
    "connection",
    "invalid_output",
    "fatal",
    "auth",
    "quota",
    "model_not_found",
    "bad_request",
    "error",
)
RETRY_REASONS = (
    "rate_limited",
    "overloaded",
    "timeout",
    "server_error",
    "connection",
    "invalid_output",
    "error",
)
WAIT_REASONS = ("cooldown", "pacing", "slot", "backoff")
LIMIT_REASONS = (*LAW_REASONS, "other")


def initial_limit(settings: Settings) -> int:
    """The adaptive limit before its first change (mirrors `postgen.engine.scheduling`)."""
    if not settings.parallel:
        return 1
    sc = settings.scheduler
    return sc.maximum if sc.kind == "fixed" else sc.initial


class MetricsObserver:
    """A scheduler Observer that updates the run's series; also remembers the adaptive limit."""

    def __init__(self, settings: Settings, registry: CollectorRegistry) -> None:
        self.limit = initial_limit(settings)
        self._model = {name: settings.stage_model(name) for name in STAGES}
        self._governor = settings.llm.model or settings.llm.provider  # as build_governor names it
        r = registry
        self.requests = Counter(
            REQUESTS, "LLM request attempts by outcome.", ["stage", "model", "outcome"], registry=r
        )
        self.duration = Histogram(
            REQUEST_DURATION,
            "Latency of one LLM request attempt.",
            ["stage"],
            buckets=DURATION_BUCKETS_S,
            registry=r,
        )
        self.retries = Counter(
            RETRIES,
            "Retries scheduled, by the failed attempt's reason.",
            ["stage", "reason"],
            registry=r,
        )
        self.wait = Counter(
            WAIT,
            "Time requests spent waiting: cooldown (429 gate), pacing, slot, backoff.",
            ["stage", "reason"],
            registry=r,
        )
        self.inflight = Gauge(INFLIGHT, "Requests in flight.", ["stage"], registry=r)
        self.sched_limit = Gauge(
            SCHEDULER_LIMIT, "The scheduler's adaptive concurrency limit.", ["model"], registry=r
        )
        self.limit_changes = Counter(
            LIMIT_CHANGES,
            "Changes of the adaptive limit, by reason.",
            ["model", "reason"],
            registry=r,
        )
        self.cooldown_active = Gauge(
            COOLDOWN_ACTIVE,
            "1 while the endpoint's 429 cool-down gate is closed.",
            ["model"],
            registry=r,
        )
        self.cooldowns = Counter(
            COOLDOWNS,
            "Times the 429 cool-down gate closed or was extended.",
            ["model"],
            registry=r,
        )
        self.last_success = Gauge(
            LAST_SUCCESS, "Unix time of the last successful request.", registry=r
        )
        self._precreate()

    def _precreate(self) -> None:
        # Zero-valued series from the start, so ratio and rate queries are never empty.
        for stage in STAGES:
            for outcome in OUTCOMES:
                self.requests.labels(stage, self._model[stage], outcome)
            for reason in RETRY_REASONS:
                self.retries.labels(stage, reason)
            for reason in WAIT_REASONS:
                self.wait.labels(stage, reason)
            self.duration.labels(stage)
            self.inflight.labels(stage).set(0)
        for reason in LIMIT_REASONS:
            self.limit_changes.labels(self._governor, reason)
        self.sched_limit.labels(self._governor).set(self.limit)
        self.cooldown_active.labels(self._governor).set(0)
        self.cooldowns.labels(self._governor)

    def on_limit_change(self, name: str, old: int, new: int, reason: str) -> None:
        self.limit = new
        self.sched_limit.labels(self._governor).set(new)
        label = reason if reason in LIMIT_REASONS else "other"
        self.limit_changes.labels(self._governor, label).inc()

    def on_gate(self, name: str, closed: bool, wait_s: float) -> None:
        self.cooldown_active.labels(self._governor).set(1 if closed else 0)
        if closed:
            self.cooldowns.labels(self._governor).inc()

    def on_dispatch(self, stage: str, inflight: int) -> None:
        self.inflight.labels(stage).set(inflight)

    def on_complete(self, stage: str, verdict: Verdict, latency_s: float, inflight: int) -> None:
        self.inflight.labels(stage).set(inflight)
        self.requests.labels(stage, self._model[stage], outcome_of(verdict)).inc()
        self.duration.labels(stage).observe(latency_s)
        if verdict.kind is Kind.SUCCESS:
            self.last_success.set(time.time())

    def on_retry(self, stage: str, attempt: int, reason: str, wait_s: float) -> None:
        self.retries.labels(stage, reason if reason in RETRY_REASONS else "error").inc()
        self.wait.labels(stage, "backoff").inc(max(0.0, wait_s))

    def on_wait(self, stage: str, cause: str, seconds: float) -> None:
        if cause in WAIT_REASONS:
            self.wait.labels(stage, cause).inc(max(0.0, seconds))


def outcome_of(verdict: Verdict) -> str:
    """The bounded `outcome` label of one attempt."""
    if verdict.kind is Kind.SUCCESS:
        return "success"
    return verdict.reason if verdict.reason in OUTCOMES else "error"


class StatsCollector(Collector):
    """Reads `RunStats` at scrape time: items, tokens, cached calls, ceilings, limits."""

    def __init__(self, settings: Settings, stats: RunStats, observer: MetricsObserver) -> None:
        self._settings, self._stats, self._observer = settings, stats, observer

    def describe(self) -> Iterable[Any]:
        return self._families()

    def collect(self) -> Iterable[Any]:
        return self._families()

    def _families(self) -> list[Any]:
        s = self._settings
        items = CounterMetricFamily(ITEMS, "Items that entered a stage.", labels=["stage"])
        ok = CounterMetricFamily(ITEMS_SUCCEEDED, "Items a stage finished.", labels=["stage"])
        failed = CounterMetricFamily(ITEMS_FAILED, "Items a stage gave up on.", labels=["stage"])
        tin = CounterMetricFamily(INPUT_TOKENS, "Prompt tokens.", labels=["stage", "model"])
        tout = CounterMetricFamily(OUTPUT_TOKENS, "Completion tokens.", labels=["stage", "model"])
        cached = CounterMetricFamily(CACHED, "Calls answered by the store.", labels=["stage"])
        ceiling = GaugeMetricFamily(
            STAGE_CEILING, "A stage's configured concurrency ceiling.", labels=["stage"]
        )
        limit = GaugeMetricFamily(
            STAGE_LIMIT, "A stage's effective limit: min(ceiling, adaptive).", labels=["stage"]
        )
        for name in STAGES:
            st, model = self._stats[name], s.stage_model(name)
            items.add_metric([name], st.items)
            ok.add_metric([name], st.succeeded)
            failed.add_metric([name], st.failed)
            tin.add_metric([name, model], st.input_tokens)
            tout.add_metric([name, model], st.output_tokens)
            cached.add_metric([name], st.cached)
            cap = s.stage_concurrency(name)
            ceiling.add_metric([name], cap)
            limit.add_metric([name], min(cap, self._observer.limit))
        return [items, ok, failed, tin, tout, cached, ceiling, limit]


@dataclass(frozen=True, slots=True)
class RunIdentity:
    """Who this run is, for the Pushgateway grouping key and the exporter's log line."""

    run_id: str
    sweep_job: int | None

    def grouping_key(self) -> dict[str, str]:
        key = {"run_id": self.run_id}
        if self.sweep_job is not None:
            key["sweep_job"] = str(self.sweep_job)
        return key


class IdentityLabels(Collector):
    """Every series of `source` with the run's identity labels added: what the exporter serves.

    A pushed run gets these labels from its Pushgateway grouping key; a scraped one gets them
    here, so two runs (or two sweep jobs) never merge into one series and a run's counters
    never reset within a series. `metrics.prom` and the push stay without them.
    """

    def __init__(self, source: CollectorRegistry, labels: dict[str, str]) -> None:
        self._source, self._labels = source, labels

    def collect(self) -> Iterator[Metric]:
        for family in self._source.collect():
            labelled = Metric(family.name, family.documentation, family.type, family.unit)
            labelled.samples = [
                s._replace(labels={**s.labels, **self._labels}) for s in family.samples
            ]
            yield labelled


class RunMetrics:
    """The registry of one run and everything that writes into it."""

    def __init__(self, settings: Settings, stats: RunStats, *, sweep_job: int | None = None):
        self.settings = settings
        self.identity = RunIdentity(new_run_id(), sweep_job)
        self.registry = CollectorRegistry(auto_describe=True)
        self.observer = MetricsObserver(settings, self.registry)
        self.registry.register(StatsCollector(settings, stats, self.observer))
        # What the live exporter serves: the same series, labelled with the run's identity.
        self.exported = CollectorRegistry(auto_describe=False)
        self.exported.register(IdentityLabels(self.registry, self.identity.grouping_key()))
        self.vote_spread = Histogram(
            VOTE_SPREAD,
            "Standard deviation of the judges' overall scores per card (score points, 1-10).",
            buckets=SPREAD_BUCKETS,
            registry=self.registry,
        )
        started = Gauge(RUN_START, "Unix time the run started.", registry=self.registry)
        started.set(time.time())
        info = Info(RUN_INFO, "The run's model, provider and mode.", registry=self.registry)
        info.info(
            {
                "model": settings.llm.model or "auto",
                "provider": settings.llm.provider,
                "parallel": str(settings.parallel).lower(),
                "scheduler": settings.scheduler.kind,
            }
        )

    def observe_scores(self, scores: Sequence[CardScore | None]) -> None:
        """Record each scored card's vote spread (at the end, from `RunResult.scores`)."""
        for score in scores:
            if score is not None:
                self.vote_spread.observe(score.overall_stdev)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def write(self, path: Path) -> None:
        """`metrics.prom`: the exposition as it stands, written atomically."""
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            tmp.write_bytes(self.exposition())
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)  # a full disk leaves no half-written .tmp behind
            raise

    def push(self, gateway: str, *, timeout_s: float = 10.0) -> bool:
        """Push the final state to a Pushgateway; a failure is logged, never raised."""
        key = self.identity.grouping_key()
        try:
            push_to_gateway(
                gateway, job=PUSH_JOB, registry=self.registry, grouping_key=key, timeout=timeout_s
            )
        except Exception as exc:  # the run's result matters more than its metrics
            logger.warning("could not push metrics to {}: {}", gateway, exc)
            return False
        logger.info("metrics pushed to {} (job={}, {})", gateway, PUSH_JOB, _fmt_key(key))
        return True


@contextmanager
def serve_exporter(registry: CollectorRegistry, addr: str, port: int) -> Iterator[str]:
    """An HTTP exporter of `registry` on `addr:port` (0: any free port); yields its URL."""
    server, thread = start_http_server(port, addr=addr, registry=registry)
    host = f"[{addr}]" if ":" in addr else addr
    url = f"http://{host}:{server.server_port}/metrics"
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def new_run_id() -> str:
    """A short id, unique per run: the Pushgateway groups each run's series under it."""
    return time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


def _fmt_key(key: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in key.items())
