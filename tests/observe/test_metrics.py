"""The run registry: names, bounded labels, pre-created series, observer mapping, exposition."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from postgen.config import STAGES
from postgen.observe.metrics import METRIC_NAMES, RunMetrics, serve_exporter
from postgen.observe.stats import RunStats
from postgen.observe.watch import exporter_port
from scheduler import Kind, Verdict
from tests.conftest import settings_for

ALLOWED_LABELS = {"stage", "model", "outcome", "reason", "le"}
INFO_LABELS = {"model", "provider", "parallel", "scheduler"}


def _metrics(*overrides: str) -> tuple[RunMetrics, RunStats]:
    stats = RunStats()
    return RunMetrics(settings_for("parallel=true", *overrides), stats), stats


def _samples(m: RunMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(m.exposition().decode()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def _value(m: RunMetrics, name: str, **labels: str) -> float:
    return _samples(m)[(name, frozenset(labels.items()))]


def test_each_run_has_its_own_registry() -> None:
    a, _ = _metrics()
    b, _ = _metrics()  # a second run in the same process: no duplicated-series error
    assert a.registry is not b.registry
    a.observer.on_complete("score", Verdict(Kind.SUCCESS, "ok"), 0.2, 0)
    assert _value(a, "postgen_requests_total", stage="score", model="sim-1", outcome="success") == 1
    assert _value(b, "postgen_requests_total", stage="score", model="sim-1", outcome="success") == 0
    default = {name for name in REGISTRY._names_to_collectors if name.startswith("postgen_")}
    assert not default, "nothing may touch the process-wide default registry"


def test_names_are_prefixed_and_labels_bounded() -> None:
    m, _ = _metrics()
    families = list(text_string_to_metric_families(m.exposition().decode()))
    exposed = {s.name for f in families for s in f.samples}
    for name in METRIC_NAMES:
        assert name.startswith("postgen_")
        assert any(e == name or e.startswith(name + "_") for e in exposed), name
    for family in families:
        for sample in family.samples:
            allowed = INFO_LABELS if sample.name == "postgen_run_info" else ALLOWED_LABELS
            assert set(sample.labels) <= allowed, (sample.name, sample.labels)


def test_ratio_series_exist_before_any_request() -> None:
    m, _ = _metrics()
    for stage in STAGES:
        for outcome in ("success", "rate_limited", "error", "timeout"):
            assert (
                _value(m, "postgen_requests_total", stage=stage, model="sim-1", outcome=outcome)
                == 0
            )
        assert _value(m, "postgen_retries_total", stage=stage, reason="rate_limited") == 0
        assert _value(m, "postgen_wait_seconds_total", stage=stage, reason="cooldown") == 0
        assert _value(m, "postgen_inflight_requests", stage=stage) == 0
        assert _value(m, "postgen_request_duration_seconds_count", stage=stage) == 0


def test_observer_events_become_series() -> None:
    m, _ = _metrics("concurrency=6", "scheduler.initial=4")
    obs = m.observer
    obs.on_dispatch("candidates", 3)
    assert _value(m, "postgen_inflight_requests", stage="candidates") == 3
    obs.on_complete("candidates", Verdict(Kind.DROP, "rate_limited", retry_after=1.0), 0.3, 2)
    obs.on_complete("candidates", Verdict(Kind.RETRY, "something new"), 0.3, 1)
    obs.on_retry("candidates", 1, "rate_limited", 1.5)
    obs.on_wait("candidates", "cooldown", 2.0)
    obs.on_gate("sim-1", True, 2.0)
    obs.on_limit_change("sim-1", 4, 9, "increase")

    def requests(outcome: str) -> float:
        return _value(
            m, "postgen_requests_total", stage="candidates", model="sim-1", outcome=outcome
        )

    assert requests("rate_limited") == 1
    assert requests("error") == 1  # an unknown reason folds into a bounded label
    assert _value(m, "postgen_inflight_requests", stage="candidates") == 1
    assert _value(m, "postgen_retries_total", stage="candidates", reason="rate_limited") == 1
    assert _value(m, "postgen_wait_seconds_total", stage="candidates", reason="backoff") == 1.5
    assert _value(m, "postgen_wait_seconds_total", stage="candidates", reason="cooldown") == 2.0
    assert _value(m, "postgen_cooldown_active", model="sim-1") == 1
    assert _value(m, "postgen_cooldowns_total", model="sim-1") == 1
    assert _value(m, "postgen_scheduler_concurrency_limit", model="sim-1") == 9
    assert _value(m, "postgen_scheduler_limit_changes_total", model="sim-1", reason="increase") == 1
    assert _value(m, "postgen_stage_concurrency_ceiling", stage="score") == 6
    assert _value(m, "postgen_stage_concurrency_limit", stage="score") == 6  # min(6, 9)
    obs.on_limit_change("sim-1", 9, 2, "decrease")
    assert _value(m, "postgen_stage_concurrency_limit", stage="score") == 2
    assert _value(m, "postgen_request_duration_seconds_count", stage="candidates") == 2
    assert _value(m, "postgen_last_success_timestamp_seconds") == 0
    obs.on_complete("candidates", Verdict(Kind.SUCCESS, "ok"), 0.1, 0)
    assert _value(m, "postgen_last_success_timestamp_seconds") > 0


def test_item_and_token_counters_read_run_stats_at_scrape_time() -> None:
    m, stats = _metrics()
    assert _value(m, "postgen_items_total", stage="extract") == 0
    st = stats["extract"]
    st.items, st.succeeded, st.input_tokens, st.output_tokens = 5, 3, 100, 40
    st.record_item("4", RuntimeError("boom"))
    assert _value(m, "postgen_items_total", stage="extract") == 5
    assert _value(m, "postgen_items_succeeded_total", stage="extract") == 3
    assert _value(m, "postgen_items_failed_total", stage="extract") == 1
    assert _value(m, "postgen_input_tokens_total", stage="extract", model="sim-1") == 100
    assert _value(m, "postgen_output_tokens_total", stage="extract", model="sim-1") == 40


def test_run_info_has_no_secrets_and_sequential_runs_report_limit_one() -> None:
    m, _ = _metrics()
    info = {k: v for (name, labels), _ in _samples(m).items() if name == "postgen_run_info"
            for k, v in labels}  # fmt: skip
    assert info == {
        "model": "sim-1",
        "provider": "sim",
        "parallel": "true",
        "scheduler": "adaptive",
    }
    seq = RunMetrics(settings_for("parallel=false"), RunStats())
    assert _value(seq, "postgen_scheduler_concurrency_limit", model="sim-1") == 1
    assert _value(seq, "postgen_stage_concurrency_limit", stage="score") == 1


def test_exporter_serves_the_run_registry_and_frees_its_port(tmp_path: Path) -> None:
    m, _ = _metrics()
    with serve_exporter(m.registry, "127.0.0.1", 0) as url:
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url, timeout=5) as resp:
            body = resp.read().decode()
        port = int(url.rsplit(":", 1)[1].split("/")[0])
    assert "postgen_requests_total" in body
    assert "python_gc" not in body  # not the default registry
    other, _ = _metrics()
    with serve_exporter(other.registry, "127.0.0.1", port) as again:  # the next job of a sweep
        assert again == url
    m.write(tmp_path / "metrics.prom")
    assert (tmp_path / "metrics.prom").read_bytes() == m.exposition()


def test_sweep_jobs_get_distinct_exporter_ports() -> None:
    assert exporter_port(0, 3) == 0
    assert exporter_port(9464, None) == 9464
    assert exporter_port(9464, 2) == 9466


def test_push_grouping_key_and_failure_is_not_fatal() -> None:
    m = RunMetrics(settings_for(), RunStats(), sweep_job=1)
    key = m.identity.grouping_key()
    assert key["sweep_job"] == "1" and key["run_id"]
    assert RunMetrics(settings_for(), RunStats()).identity.run_id != m.identity.run_id
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    assert m.push(f"http://127.0.0.1:{closed}", timeout_s=2) is False


@pytest.mark.parametrize("spread", [0.0, 0.4, 2.5])
def test_vote_spread_histogram(spread: float) -> None:
    from postgen.domain import CardScore

    m, _ = _metrics()
    score = CardScore(
        article_id=1, overall_score=7.0, overall_stdev=spread, criteria={}, votes=3, failed_votes=0
    )
    m.observe_scores([score, None])
    assert _value(m, "postgen_judge_vote_stdev_count") == 1
    assert _value(m, "postgen_judge_vote_stdev_sum") == pytest.approx(spread)
