"""End to end: real Prometheus scrapes a run (or a Pushgateway); every panel shows that run.

For each panel of `dashboards/postgen.json`, for a live run and for pushed runs, every
target's expr is evaluated the way Grafana would send it (template variables resolved from
Prometheus, `$__range` the run's window, `$__rate_interval` four 1 s scrapes; time series
panels as range queries, stat/bar/table panels as instant queries at the window's end) and
compared with the run's own final state, read from its `metrics.prom`.

What makes the live checks deterministic: the run talks to a real simulator through a gate
(`tests/observe/gate.py`) that holds its first chat requests until Prometheus has scraped
them in flight. So a scrape precedes every counter's rise, and `metrics.linger_s` (three
scrape intervals) lets Prometheus scrape the final state; both are asserted, not assumed.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from postgen.cli.run import execute
from postgen.config import STAGES, Settings
from postgen.observe.metrics import PUSH_JOB
from postgen.sim import SimServer
from postgen.sim.config import SimConfig
from tests.conftest import settings_for
from tests.observe.gate import gated_proxy
from tests.observe.promstack import (
    PROMETHEUS,
    PUSHGATEWAY,
    Prometheus,
    dashboard,
    default_value,
    free_port,
    multi_value,
    resolve_variable,
    run_prometheus,
    run_pushgateway,
    substitute,
    wait_until,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.prometheus,
    pytest.mark.skipif(
        PROMETHEUS is None or PUSHGATEWAY is None,
        reason="needs the prometheus and prometheus-pushgateway binaries "
        "(apt-get install prometheus prometheus-pushgateway)",
    ),
]

LIVE_JOB = "postgen-live"
ITERATIONS = 8
ITEMS = {"candidates": ITERATIONS, "extract": ITERATIONS, "score": ITERATIONS, "synthesize": 1}
RATE_INTERVAL = "4s"  # Grafana's $__rate_interval for a 1 s scrape: 4 scrape intervals
STEP_S = 1.0
# Scrapes of a push before its panels are read: a rate window (4 s) at the last step must
# hold two samples of it, as it would an hour later.
SCRAPES_OF_PUSH = 6
HANG_GUARD_S = 60.0
# A bucket of 20 requests refilled at 2/s, no rate headers to pace by: the run's ~40 requests
# overshoot it (429s, retries, cool-downs) and take several seconds whatever the machine.
RPM, TIME_SCALE = 120, 0.02
BASE = ("parallel=true", f"iterations={ITERATIONS}", "votes=2", "top_k=2", "quiet=true")


# --- a run and what it says about itself -------------------------------------------------


@dataclass
class Run:
    """One finished run: its id and its final exposition (`metrics.prom`)."""

    name: str
    run_id: str
    final: list[tuple[str, dict[str, str], float]]
    fresh: bool  # it called the server (not replayed from the call store)

    @classmethod
    def read(cls, name: str, out: Path, *, fresh: bool) -> Run:
        log = (out / "postgen.log").read_text(encoding="utf-8")
        m = re.search(r"run_id[ =](\d{8}T\d{6}-[0-9a-f]{6})", log)
        assert m, "the run logged no run_id"
        text = (out / "metrics.prom").read_text(encoding="utf-8")
        final = [
            (s.name, dict(s.labels), s.value)
            for family in text_string_to_metric_families(text)
            for s in family.samples
        ]
        return cls(name, m.group(1), final, fresh)

    def total(self, name: str, **labels: str) -> float:
        return sum(v for n, lb, v in self.final if n == name and labels.items() <= lb.items())

    def by(self, name: str, label: str, **labels: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for n, lb, v in self.final:
            if n == name and labels.items() <= lb.items():
                out[lb[label]] = out.get(lb[label], 0.0) + v
        return out

    @property
    def start(self) -> float:
        return self.total("postgen_run_start_timestamp_seconds")


def run_settings(*overrides: str) -> Settings:
    return settings_for(*BASE, *overrides)


SIM_OVERRIDES = (
    f"llm.sim.rpm={RPM}",
    "llm.sim.rate_headers=false",
    f"llm.sim.time_scale={TIME_SCALE}",
)


# --- the stack ---------------------------------------------------------------------------


@dataclass
class Stack:
    prom: Prometheus
    gateway: str
    exporter_port: int
    tmp: Path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("promstack")
    exporter_port = free_port()
    with run_pushgateway(tmp) as gateway:
        scrape = {
            LIVE_JOB: f"127.0.0.1:{exporter_port}",
            "pushgateway": gateway.removeprefix("http://"),
        }
        with run_prometheus(tmp, scrape) as prom:
            wait_until(lambda: prom.targets_up("pushgateway"), 20, "a first scrape")
            yield Stack(prom, gateway, exporter_port, tmp)


@dataclass
class Live:
    run: Run
    window: tuple[float, float]


@pytest.fixture(scope="module")
def live(stack: Stack) -> Live:
    """A rate-limited run scraped live; its first requests wait until scraped in flight."""
    out = stack.tmp / "live"
    inflight = f'sum(postgen_inflight_requests{{job="{LIVE_JOB}"}})'
    opened: list[BaseException | None] = []
    with (
        SimServer(SimConfig(rpm=RPM, rate_headers=False, time_scale=TIME_SCALE)) as sim,
        gated_proxy(sim.root_url) as (base_url, gate),
    ):

        def open_when_scraped() -> None:
            try:
                wait_until(
                    lambda: gate.held > 0 and _value(stack.prom.query(inflight)) > 0,
                    HANG_GUARD_S,
                    "a scrape with requests in flight",
                )
                opened.append(None)
            except BaseException as exc:  # reported by the test thread below
                opened.append(exc)
            finally:
                gate.open()

        opener = threading.Thread(target=open_when_scraped, daemon=True)
        opener.start()
        settings = run_settings(
            f"llm.base_url={base_url}",
            "cache.enabled=false",
            f"metrics.port={stack.exporter_port}",
            "metrics.linger_s=3",
        )
        assert (
            execute(settings, out, console=True) == 0
        )  # signal handlers: the run needs the main thread
        opener.join(timeout=HANG_GUARD_S)
    assert opened == [None], opened
    run = Run.read("live", out, fresh=True)
    samples = stack.prom.query(f'postgen_run_info{{run_id="{run.run_id}"}}[10m]')
    assert samples, "the live run was never scraped"
    last = float(samples[0]["values"][-1][0])
    return Live(run, (run.start - 1, last))


@dataclass
class Pushed:
    fresh: Run
    replay: Run
    window: tuple[float, float]


@pytest.fixture(scope="module")
def pushed(stack: Stack) -> Pushed:
    """Two pushed runs: a rate-limited one, then the same run replayed from the call store."""
    store = stack.tmp / "calls.sqlite"
    runs = []
    for name in ("fresh", "replay"):
        settings = run_settings(
            *SIM_OVERRIDES,
            f"cache.path={store}",
            f"metrics.pushgateway={stack.gateway}",
        )
        assert execute(settings, stack.tmp / name, console=True) == 0
        runs.append(Run.read(name, stack.tmp / name, fresh=name == "fresh"))
    for run in runs:
        selector = f'postgen_run_info{{job="{PUSH_JOB}", run_id="{run.run_id}"}}[10m]'
        wait_until(
            lambda sel=selector: len(_first_values(stack.prom.query(sel))) >= SCRAPES_OF_PUSH,
            HANG_GUARD_S,
            "scrapes of the push",
        )
    end = time.time()  # Prometheus runs on this machine: the same clock
    return Pushed(runs[0], runs[1], (runs[0].start - 1, end))


def _first_values(result: list[Any]) -> list[Any]:
    return list(result[0]["values"]) if result else []


def _value(result: list[dict[str, Any]]) -> float:
    return float(result[0]["value"][1]) if result else 0.0


# --- evaluating the dashboard ------------------------------------------------------------


@dataclass
class Series:
    labels: dict[str, str]
    values: list[float]


Results = dict[str, list[Series]]  # refId -> series


@dataclass
class View:
    """The dashboard as Grafana would show it: variable values and a time window."""

    values: dict[str, str]
    window: tuple[float, float]
    panels: dict[str, Results] = field(default_factory=dict)


def resolve_view(prom: Prometheus, job: str, window: tuple[float, float]) -> View:
    """Resolve the variables as Grafana does on load: the job given, every other default."""
    doc = dashboard()
    variables = {v["name"]: v for v in doc["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    values = {"datasource": "prometheus"}
    assert job in resolve_variable(prom, variables["job"], values, window)
    values["job"] = job
    run_ids = resolve_variable(prom, variables["run_id"], values, window)
    values["run_id"] = default_value(variables["run_id"], run_ids)
    stages = resolve_variable(prom, variables["stage"], values, window)
    assert sorted(stages) == sorted(STAGES)
    values["stage"] = default_value(variables["stage"], stages)
    return View(values, window)


def evaluate(prom: Prometheus, view: View) -> View:
    start, end = view.window
    range_ = f"{math.ceil(end - start)}s"
    for panel in dashboard()["panels"]:
        results: Results = {}
        for target in panel.get("targets", []):
            expr = substitute(target["expr"], view.values, RATE_INTERVAL, range_)
            if target["instant"]:
                found = prom.query(expr, at=end)
                results[target["refId"]] = [
                    Series(s["metric"], [float(s["value"][1])]) for s in found
                ]
            else:
                found = prom.query_range(expr, start, end, STEP_S)
                results[target["refId"]] = [
                    Series(s["metric"], [float(v) for _, v in s["values"]]) for s in found
                ]
        if panel["type"] != "row":
            view.panels[panel["title"]] = results
    return view


def one(series: list[Series]) -> float:
    assert len(series) == 1, [s.labels for s in series]
    assert len(series[0].values) == 1
    return series[0].values[0]


def by(series: list[Series], label: str) -> dict[str, float]:
    """Each series' last value, keyed by one of its labels."""
    out = {s.labels.get(label, ""): s.values[-1] for s in series}
    assert len(out) == len(series), f"{label} does not tell the series apart"
    return out


def peak(series: list[Series]) -> float:
    assert series, "no data"
    return max(v for s in series for v in s.values)


def nonzero(values: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in values.items() if v > 0}


def close(a: dict[str, float], b: dict[str, float]) -> bool:
    return a.keys() == b.keys() and all(math.isclose(a[k], b[k], rel_tol=1e-9) for k in a)


# --- what each panel must show -----------------------------------------------------------
# A check gets the panel's results, the run shown and the mode ("live" or "pushed"), and
# asserts. BOTH panels must equal the run's final state in either mode; LIVE panels must show
# the run's activity live and, pushed, what their description says (0, or nothing).

Check = Callable[[Results, Run, str], None]
BOTH, LIVE = "both", "live"


def runs_table(r: Results, run: Run, mode: str) -> None:
    (info,) = r["info"]
    assert info.labels["run_id"] == run.run_id
    assert info.labels["model"] == "sim-1" and info.labels["parallel"] == "true"
    requests = run.total("postgen_requests_total")
    assert one(r["requests"]) == requests
    assert one(r["rate_limited"]) == run.total("postgen_requests_total", outcome="rate_limited")
    assert math.isclose(one(r["started"]), run.start * 1000)
    assert one(r["limit"]) == run.total("postgen_scheduler_concurrency_limit")
    if run.fresh:
        assert one(r["rate_limited"]) > 0 and requests > 0
        assert one(r["last_success"]) > one(r["started"])
        assert one(r["active"]) > 0
    else:  # a replay succeeds without a request: no last success to show
        assert r["last_success"] == [] and r["active"] == []


def items_per_stage(r: Results, run: Run, mode: str) -> None:
    assert by(r["ok"], "stage") == ITEMS == run.by("postgen_items_succeeded_total", "stage")
    assert by(r["started"], "stage") == ITEMS
    assert by(r["failed"], "stage") == dict.fromkeys(STAGES, 0.0)


def attempts(r: Results, run: Run, mode: str) -> None:
    assert one(r["attempts"]) == run.total("postgen_requests_total")
    assert one(r["rate_limited"]) == run.total("postgen_requests_total", outcome="rate_limited")
    assert one(r["retries"]) == run.total("postgen_retries_total")
    assert one(r["cooldowns"]) == run.total("postgen_cooldowns_total")
    assert one(r["cached"]) == run.total("postgen_cached_requests_total")
    if run.fresh:  # the rate limit was hit: 429s, retries, closed gates
        assert min(one(r[k]) for k in ("attempts", "rate_limited", "retries", "cooldowns")) > 0
        assert one(r["cached"]) == 0
    else:
        assert one(r["cached"]) > 0


def shares(r: Results, run: Run, mode: str) -> None:
    requests = run.by("postgen_requests_total", "stage")
    limited = run.by("postgen_requests_total", "stage", outcome="rate_limited")
    ok = run.by("postgen_requests_total", "stage", outcome="success")
    expected_429 = {s: limited[s] / max(requests[s], 1e-9) for s in STAGES}
    expected_failed = {s: (requests[s] - ok[s]) / max(requests[s], 1e-9) for s in STAGES}
    assert close(by(r["share_429"], "stage"), expected_429)
    assert close(by(r["share_failed"], "stage"), expected_failed)
    if run.fresh:
        assert peak(r["share_429"]) > 0


def outcomes(r: Results, run: Run, mode: str) -> None:
    expected = nonzero(run.by("postgen_requests_total", "outcome"))
    assert by(r["outcome"], "outcome") == expected
    if run.fresh:
        assert {"success", "rate_limited"} <= expected.keys()


def tokens(r: Results, run: Run, mode: str) -> None:
    for ref, name in (
        ("input", "postgen_input_tokens_total"),
        ("output", "postgen_output_tokens_total"),
    ):
        assert by(r[ref], "stage") == run.by(name, "stage")
        if run.fresh:
            assert min(by(r[ref], "stage").values()) > 0


def waiting(r: Results, run: Run, mode: str) -> None:
    assert close(by(r["wait"], "reason"), run.by("postgen_wait_seconds_total", "reason"))
    if run.fresh:
        assert by(r["wait"], "reason")["backoff"] > 0  # retries after 429s waited


def latency_over_run(r: Results, run: Run, mode: str) -> None:
    asked = nonzero(run.by("postgen_request_duration_seconds_count", "stage")).keys()
    p50, p95, p99 = (by(r[q], "stage") for q in ("p50", "p95", "p99"))
    assert p50.keys() == p95.keys() == p99.keys() == asked
    for stage in asked:
        assert 0 < p50[stage] <= p95[stage] <= p99[stage]
    assert bool(asked) == run.fresh


def reasons(r: Results, run: Run, mode: str) -> None:
    assert by(r["retries"], "reason") == nonzero(run.by("postgen_retries_total", "reason"))
    changes = nonzero(run.by("postgen_scheduler_limit_changes_total", "reason"))
    assert by(r["limit_changes"], "reason") == changes
    if run.fresh:
        assert "rate_limited" in by(r["retries"], "reason") and changes


def vote_spread(r: Results, run: Run, mode: str) -> None:
    count = run.total("postgen_judge_vote_stdev_count")
    assert count == ITERATIONS
    mean = run.total("postgen_judge_vote_stdev_sum") / count
    assert math.isclose(one(r["mean"]), mean)
    assert 0 <= one(r["median"]) <= one(r["p90"])


def request_rate(r: Results, run: Run, mode: str) -> None:
    if mode == "pushed":
        zero_rates(r)
        return
    rates = r["rate"]
    assert peak([s for s in rates if s.labels["outcome"] == "success"]) > 0
    assert peak([s for s in rates if s.labels["outcome"] == "rate_limited"]) > 0


def latency(r: Results, run: Run, mode: str) -> None:
    if mode == "pushed":  # no rate of a constant histogram: nothing (not NaN) to show
        assert all(r[q] == [] for q in ("p50", "p95", "p99"))
        return
    for q in ("p50", "p95", "p99"):
        assert {s.labels["stage"] for s in r[q]} == set(STAGES)
        assert min(v for s in r[q] for v in s.values) > 0


def ratios(r: Results, run: Run, mode: str) -> None:
    if mode == "pushed":
        zero_rates(r)
        return
    assert peak(r["share_429"]) > 0 and peak(r["share_failed"]) > 0


def tokens_rate(r: Results, run: Run, mode: str) -> None:
    if mode == "pushed":
        zero_rates(r)
        return
    assert peak(r["input"]) > 0 and peak(r["output"]) > 0


def inflight(r: Results, run: Run, mode: str) -> None:
    final = run.by("postgen_stage_concurrency_limit", "stage")
    if mode == "pushed":  # the final state as flat lines
        assert peak(r["inflight"]) == 0
        assert all(set(s.values) == {final[s.labels["stage"]]} for s in r["limit"])
        return
    assert peak(r["inflight"]) > 0  # the gate held requests until this was scraped
    for ref in ("limit", "ceiling", "adaptive"):
        assert r[ref] and min(v for s in r[ref] for v in s.values) >= 1
    assert by(r["limit"], "stage") == final


def cooldown(r: Results, run: Run, mode: str) -> None:
    assert r["gate"], "the gate series is always there"
    if mode == "pushed":
        zero_rates({"wait": r["wait"]})
        return
    assert peak(r["wait"]) > 0


def retries_rate(r: Results, run: Run, mode: str) -> None:
    if mode == "pushed":
        zero_rates(r)
        return
    assert peak([s for s in r["retries"] if s.labels["reason"] == "rate_limited"]) > 0


def limit_changes(r: Results, run: Run, mode: str) -> None:
    if mode == "pushed":
        zero_rates(r)
        return
    assert run.total("postgen_scheduler_limit_changes_total") > 0
    assert peak(r["changes"]) > 0


def items_over_time(r: Results, run: Run, mode: str) -> None:
    assert by(r["ok"], "stage") == ITEMS  # the last point: the run's items
    if mode == "live":  # it climbed from 0: the first scrape came before the first item
        assert all(s.values[0] == 0 for s in r["ok"])
    else:
        assert all(set(s.values) == {ITEMS[s.labels["stage"]]} for s in r["ok"])


def zero_rates(r: Results) -> None:
    """A pushed final state never changes: its rates are 0 (there, not missing)."""
    for ref, series in r.items():
        assert series, f"{ref}: no data"
        assert peak(series) == 0, ref


PANELS: dict[str, tuple[str, Check]] = {
    "Runs": (BOTH, runs_table),
    "Items per stage": (BOTH, items_per_stage),
    "Attempts, 429s, retries, cool-downs": (BOTH, attempts),
    "429 share and failure share": (BOTH, shares),
    "Requests by outcome": (BOTH, outcomes),
    "Tokens per stage": (BOTH, tokens),
    "Time spent waiting, by reason": (BOTH, waiting),
    "Latency over the run": (BOTH, latency_over_run),
    "Retries and limit changes, by reason": (BOTH, reasons),
    "Judge vote spread": (BOTH, vote_spread),
    "Request rate by stage and outcome": (LIVE, request_rate),
    "Latency p50 / p95 / p99 by stage": (LIVE, latency),
    "429 ratio and error ratio": (LIVE, ratios),
    "Tokens per second": (LIVE, tokens_rate),
    "In flight vs concurrency limit": (LIVE, inflight),
    "Cool-down and backoff": (LIVE, cooldown),
    "Retries by reason": (LIVE, retries_rate),
    "Scheduler limit changes by reason": (LIVE, limit_changes),
    "Items done over time": (BOTH, items_over_time),
}


def check_panels(view: View, run: Run, mode: str) -> None:
    """Every panel checked; all failures reported together, each with its panel."""
    described = {p["title"]: p["description"] for p in dashboard()["panels"] if p["type"] != "row"}
    assert set(view.panels) == set(PANELS), "every panel needs a check here"
    failures = []
    for title, (serves, check) in PANELS.items():
        claims_live_only = "Live runs only" in described[title]
        if claims_live_only != (serves == LIVE):
            failures.append(f"{title}: its description does not say which runs it serves")
        try:
            check(view.panels[title], run, mode)
        except AssertionError as exc:
            failures.append(f"{title}: {exc!r}")
    assert not failures, f"{mode} run {run.name}:\n" + "\n".join(failures)


# --- the tests ---------------------------------------------------------------------------


def test_every_panel_shows_the_live_run(stack: Stack, live: Live) -> None:
    view = resolve_view(stack.prom, LIVE_JOB, live.window)
    assert view.values["run_id"] == live.run.run_id  # the newest run is the default
    last = stack.prom.query(
        f'sum(postgen_items_succeeded_total{{run_id="{live.run.run_id}", stage="score"}})',
        at=live.window[1],
    )
    assert _value(last) == ITERATIONS, "the final state was not scraped (linger too short?)"
    check_panels(evaluate(stack.prom, view), live.run, "live")


def test_every_panel_shows_each_pushed_run(stack: Stack, pushed: Pushed) -> None:
    view = resolve_view(stack.prom, PUSH_JOB, pushed.window)
    assert view.values["run_id"] == pushed.replay.run_id  # the newest run is the default
    for run in (pushed.fresh, pushed.replay):
        view.values["run_id"] = run.run_id
        check_panels(evaluate(stack.prom, view), run, "pushed")


def test_two_pushed_runs_add_up_only_when_both_are_picked(stack: Stack, pushed: Pushed) -> None:
    view = resolve_view(stack.prom, PUSH_JOB, pushed.window)
    for run in (pushed.fresh, pushed.replay):
        view.values["run_id"] = run.run_id
        items = evaluate(stack.prom, view).panels["Items per stage"]
        assert by(items["ok"], "stage") == ITEMS  # 8, not 16, with both runs in the range
    view.values["run_id"] = multi_value([pushed.fresh.run_id, pushed.replay.run_id])
    both = evaluate(stack.prom, view).panels
    assert by(both["Items per stage"]["ok"], "stage") == {s: 2 * n for s, n in ITEMS.items()}
    assert {s.labels["run_id"] for s in both["Runs"]["info"]} == {
        pushed.fresh.run_id,
        pushed.replay.run_id,
    }


def test_a_pushed_run_keeps_its_grouping_labels(stack: Stack, pushed: Pushed) -> None:
    info = stack.prom.query(f'postgen_run_info{{run_id="{pushed.fresh.run_id}"}}')
    assert len(info) == 1, [i["metric"] for i in info]
    labels = info[0]["metric"]
    assert labels["job"] == PUSH_JOB  # honor_labels keeps the pushed job
    assert not labels.get("instance")  # pushed series are not attributed to the gateway
