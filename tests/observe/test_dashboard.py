"""The dashboard's shape, without Prometheus: generated, filtered, complete, documented.

What each panel shows for a real run is tests/observe/test_prometheus_e2e.py.
"""

from __future__ import annotations

import importlib.util
import json
import re
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from postgen.observe.metrics import METRIC_NAMES, RunIdentity, RunMetrics
from postgen.observe.stats import RunStats
from tests.conftest import REPO, settings_for
from tests.observe.promstack import DASHBOARD, dashboard, panel_queries

DOCS = REPO / "docs" / "grafana.md"
SELECTOR = re.compile(r"\b(postgen_\w+)\{([^}]*)\}")


def _builder() -> Any:
    spec = importlib.util.spec_from_file_location(
        "build_dashboard", DASHBOARD.parent / "build_dashboard.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def _staged_metrics() -> set[str]:
    """Exposed sample names that carry a `stage` label, from a real run registry."""
    m = RunMetrics(settings_for("parallel=true"), RunStats())
    families = text_string_to_metric_families(m.exposition().decode())
    return {s.name for f in families for s in f.samples if "stage" in s.labels}


def test_the_json_is_what_the_builder_writes() -> None:
    built = json.dumps(_builder().dashboard(), indent=2, ensure_ascii=False) + "\n"
    assert DASHBOARD.read_text(encoding="utf-8") == built, "run dashboards/build_dashboard.py"


def test_every_exported_metric_is_on_a_panel() -> None:
    exprs = " ".join(expr for _, expr in panel_queries(dashboard()))
    missing = [name for name in METRIC_NAMES if name not in exprs]
    assert not missing, f"on no panel: {missing}"


def test_every_query_selects_the_job_and_the_run_and_the_stage_where_there_is_one() -> None:
    staged = _staged_metrics()
    for title, expr in panel_queries(dashboard()):
        selectors = SELECTOR.findall(expr)
        assert selectors, (title, expr)
        for metric, matchers in selectors:
            assert 'job=~"$job"' in matchers and 'run_id=~"$run_id"' in matchers, (title, expr)
            if metric in staged and title != "Runs":  # the Runs table sums whole runs
                assert 'stage=~"$stage"' in matchers, (title, metric)


def test_the_run_variable_reads_the_pushgateway_grouping_label() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    run = variables["run_id"]
    assert run["query"]["query"].endswith(", run_id)")
    assert "run_id" in RunIdentity("x", None).grouping_key()
    assert run["multi"] and not run["includeAll"]  # default: one run, the newest
    assert run["sort"] == 2  # descending: run ids start with their start time
    assert not variables["job"]["multi"]  # a run both scraped and pushed must not count twice


def test_the_runs_table_merges_its_queries() -> None:
    (runs,) = [p for p in _panels() if p["title"] == "Runs"]
    assert runs["transformations"][0]["id"] == "merge"
    assert len(runs["targets"]) > 1
    assert all(t["format"] == "table" and t["instant"] for t in runs["targets"])


def test_panel_ids_are_unique_and_every_panel_says_which_runs_it_serves() -> None:
    ids = [p["id"] for p in dashboard()["panels"]]
    assert len(ids) == len(set(ids))
    for p in _panels():
        assert ("Live runs only" in p["description"]) != (
            "Live and pushed runs" in p["description"]
        )


def test_the_docs_name_every_metric_and_panel() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for name in METRIC_NAMES:
        assert f"`{name}`" in text, name
    for p in _panels():
        assert p["title"] in text, p["title"]


def test_the_shipped_configs_cite_files_that_exist() -> None:
    for path in (DASHBOARD.parent / "prometheus.yml", DASHBOARD.parent / "docker-compose.yml"):
        for cited in re.findall(r"[\w./-]+\.md\b", path.read_text(encoding="utf-8")):
            assert (REPO / cited).exists(), f"{path.name} cites {cited}"
