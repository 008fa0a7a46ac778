"""The live exporter labels every series with the run's identity; metrics.prom does not."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from postgen.observe.metrics import RunMetrics, serve_exporter
from postgen.observe.stats import RunStats
from tests.conftest import settings_for


def _served(m: RunMetrics) -> str:
    with (
        serve_exporter(m.exported, "127.0.0.1", 0) as url,
        urllib.request.urlopen(url, timeout=5) as resp,
    ):
        return str(resp.read().decode())


def _labels(text: str) -> list[dict[str, str]]:
    return [dict(s.labels) for f in text_string_to_metric_families(text) for s in f.samples]


def test_the_exporter_adds_the_grouping_key_to_every_series() -> None:
    m = RunMetrics(settings_for("parallel=true"), RunStats(), sweep_job=3)
    m.observer.on_dispatch("score", 2)
    served = _served(m)
    labels = _labels(served)
    key = {"run_id": m.identity.run_id, "sweep_job": "3"}
    assert labels and all(key.items() <= lb.items() for lb in labels)
    assert 'postgen_inflight_requests{run_id="' in served  # the run's own values, labelled
    assert len(labels) == len(_labels(m.exposition().decode()))  # same series, no more
    assert all("run_id" not in lb for lb in _labels(m.exposition().decode()))


def test_without_a_sweep_only_the_run_id_is_added() -> None:
    m = RunMetrics(settings_for(), RunStats())
    labels = _labels(_served(m))
    assert all(lb["run_id"] == m.identity.run_id and "sweep_job" not in lb for lb in labels)
