"""Real runs: metrics.prom passes promtool, sweeps in one process, the exporter port in use."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from postgen.cli.run import execute
from postgen.errors import ConfigError
from tests.conftest import REPO, run_cli, settings_for
from tests.observe.promstack import PROMTOOL

needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="needs promtool (apt-get install prometheus)"
)

FAST = ("parallel=true", "iterations=4", "votes=2", "top_k=2", "llm.sim.time_scale=0",
        "cache.enabled=false", "quiet=true")  # fmt: skip


def _promtool(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], input=stdin, capture_output=True, timeout=30, check=False
    )


def test_a_run_leaves_metrics_timeline_and_log(tmp_path: Path) -> None:
    assert execute(settings_for(*FAST), tmp_path, console=True) == 0
    prom = (tmp_path / "metrics.prom").read_text(encoding="utf-8")
    assert 'postgen_items_succeeded_total{stage="score"} 4.0' in prom
    assert "postgen_judge_vote_stdev_count 4.0" in prom
    assert (tmp_path / "postgen.log").stat().st_size > 0
    assert (tmp_path / "timeline.png").read_bytes().startswith(b"\x89PNG")


@needs_promtool
def test_promtool_accepts_a_real_runs_exposition(tmp_path: Path) -> None:
    assert execute(settings_for(*FAST, "llm.sim.rpm=120", "llm.sim.rate_headers=false"),
                   tmp_path) == 0  # fmt: skip
    done = _promtool("check", "metrics", stdin=(tmp_path / "metrics.prom").read_bytes())
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()


@needs_promtool
def test_promtool_accepts_the_shipped_prometheus_config() -> None:
    done = _promtool("check", "config", str(REPO / "dashboards" / "prometheus.yml"))
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()


def test_two_jobs_in_one_process_with_the_exporter_on(tmp_path: Path) -> None:
    for seed in (1, 2):
        settings = settings_for(*FAST, f"seed={seed}", "metrics.port=0")
        assert execute(settings, tmp_path / str(seed)) == 0
        assert (tmp_path / str(seed) / "metrics.prom").exists()
    first = (tmp_path / "1" / "metrics.prom").read_text(encoding="utf-8")
    assert 'postgen_items_total{stage="candidates"} 4.0' in first  # not 8: separate registries


@pytest.mark.slow
def test_a_multirun_sweep_in_one_process(tmp_path: Path) -> None:
    done = run_cli("-m", "seed=1,2", "metrics.port=0", *FAST,
                   f"hydra.sweep.dir={tmp_path}", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    for job in ("0", "1"):
        assert (tmp_path / job / "metrics.prom").exists()
        assert "metrics exporter on http://127.0.0.1:" in (
            tmp_path / job / "postgen.log"
        ).read_text(encoding="utf-8")


def test_exporter_port_in_use_is_a_config_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match=r"metrics\.port"):
            execute(settings_for(*FAST, f"metrics.port={port}"), tmp_path)
