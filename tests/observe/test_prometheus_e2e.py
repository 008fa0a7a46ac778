"""End to end: real Prometheus scrapes a run (or a Pushgateway); every dashboard query has data."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from postgen.cli.run import execute
from postgen.config import STAGES
from postgen.observe.metrics import PUSH_JOB
from tests.conftest import settings_for
from tests.observe.promstack import (
    PROMETHEUS,
    PUSHGATEWAY,
    Prometheus,
    dashboard,
    free_port,
    panel_queries,
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


@dataclass
class Stack:
    prom: Prometheus
    gateway: str
    exporter_port: int


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
            yield Stack(prom, gateway, exporter_port)


def _run(out_dir: Path, *overrides: str) -> None:
    settings = settings_for(
        "parallel=true",
        "iterations=8",
        "votes=2",
        "top_k=2",
        "llm.sim.rpm=600",
        "llm.sim.time_scale=0.02",
        "cache.enabled=false",
        "quiet=true",
        *overrides,
    )
    assert execute(settings, out_dir) == 0


def _samples(prom: Prometheus, selector: str) -> list[Any]:
    series = prom.query(f"{selector}[5m]")
    return list(series[0]["values"]) if series else []


def _check_dashboard(prom: Prometheus, job: str, at: float | None) -> None:
    doc = dashboard()
    variables = {v["name"]: v for v in doc["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    values = {"datasource": "prometheus"}
    assert job in resolve_variable(prom, variables["job"], values)
    values["job"] = job
    stages = resolve_variable(prom, variables["stage"], values)
    assert sorted(stages) == sorted(STAGES)
    values["stage"] = "(" + "|".join(stages) + ")"  # Grafana's "All" for a multi-value regex

    queries = panel_queries(doc)
    assert len({title for title, _ in queries}) >= 9
    empty = []
    for title, expr in queries:
        query = substitute(expr, values)
        if not prom.query(query, at=at):
            empty.append(f"{title}: {query}")
    assert not empty, "panel queries without data:\n" + "\n".join(empty)


def test_every_panel_has_data_from_the_live_exporter(stack: Stack, tmp_path: Path) -> None:
    _run(tmp_path / "run", f"metrics.port={stack.exporter_port}", "metrics.linger_s=2.5")

    # The exporter is gone now; evaluate at the last scrape, as a dashboard showing the run would.
    samples = _samples(stack.prom, f'postgen_run_info{{job="{LIVE_JOB}"}}')
    assert len(samples) >= 2, "the exporter was scraped fewer than twice"
    at = float(samples[-1][0])
    _check_dashboard(stack.prom, LIVE_JOB, at)

    done = stack.prom.query(
        f'sum(postgen_items_succeeded_total{{job="{LIVE_JOB}", stage="score"}})', at=at
    )
    assert float(done[0]["value"][1]) == 8  # the final state was scraped, not a partial one
    spread = stack.prom.query(f'sum(postgen_judge_vote_stdev_count{{job="{LIVE_JOB}"}})', at=at)
    assert float(spread[0]["value"][1]) == 8


def test_every_panel_has_data_from_the_pushgateway(stack: Stack, tmp_path: Path) -> None:
    _run(tmp_path / "run", f"metrics.pushgateway={stack.gateway}")

    selector = f'postgen_run_info{{job="{PUSH_JOB}"}}'
    wait_until(lambda: len(_samples(stack.prom, selector)) >= 2, 20, "two scrapes of the push")
    _check_dashboard(stack.prom, PUSH_JOB, None)

    info = stack.prom.query(selector)
    assert len(info) == 1, [i["metric"] for i in info]
    labels = info[0]["metric"]
    assert labels["run_id"]  # the grouping key survives honor_labels
    assert not labels.get("instance")  # pushed series are not attributed to the gateway
    items = stack.prom.query(
        f'postgen_items_succeeded_total{{job="{PUSH_JOB}", stage="candidates"}}'
    )
    assert float(items[0]["value"][1]) == 8
