"""Real multiruns on the simulator: the callback writes one row per job."""

from __future__ import annotations

import csv
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from postgen.cli.compose import register_schema
from tests.conftest import CONF, run_cli

FAST = ["parallel=true", "iterations=3", "cache.enabled=false", "quiet=true"]


def _rows(sweep: Path) -> list[dict[str, str]]:
    with (sweep / "sweep.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_a_three_value_sweep_writes_csv_md_and_png(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    done = run_cli(
        "-m",
        "stage.score.concurrency=1,2,4",
        *FAST,
        "llm.sim.time_scale=0.01",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = _rows(sweep)
    assert [r["stage.score.concurrency"] for r in rows] == ["1", "2", "4"]
    for r in rows:
        assert r["status"] == "ok" and r["failed_items"] == "0"
        assert float(r["wall_s"]) > 0
        assert int(r["requests"]) >= 3 + 3 + 3 * 3 + 1  # candidates, cards, votes, post
        assert float(r["requests_per_s"]) > 0
        assert 0.0 <= float(r["frac_429"]) <= 1.0
    assert sum(int(r["best"]) for r in rows) == 1
    md = (sweep / "sweep.md").read_text(encoding="utf-8")
    assert md.count("★") == 1
    assert len([ln for ln in md.splitlines() if ln.startswith("|")]) == 2 + 3
    assert (sweep / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert "sweep report:" in done.stderr


def test_the_concurrency_experiment_composes_as_a_multirun() -> None:
    register_schema()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            config_name="config",
            overrides=["+experiment=concurrency_sweep"],
            return_hydra_config=True,
        )
    assert str(cfg.hydra.mode) == "RunMode.MULTIRUN"
    assert cfg.hydra.sweeper.params.concurrency == "1,2,4,8,16"
    assert cfg.parallel is True and cfg.cache.enabled is False
    assert cfg.llm.sim.rpm and cfg.llm.sim.rate_headers is False
    assert cfg.hydra.callbacks.sweep_report._target_ == "postgen.cli.sweep.SweepReport"


def test_the_concurrency_experiment_runs(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    done = run_cli(
        "+experiment=concurrency_sweep",
        "concurrency=2,8",  # the command line replaces the experiment's values
        "iterations=3",
        "llm.sim.time_scale=0",
        "llm.sim.rpm=6000",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert [r["concurrency"] for r in _rows(sweep)] == ["2", "8"]


def test_a_rejected_job_is_reported_not_dropped(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    done = run_cli(
        "-m",
        "top_k=1,9",  # 9 > iterations: that job is refused before it starts
        *FAST,
        "llm.sim.time_scale=0",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 2
    rows = _rows(sweep)
    assert [(r["top_k"], r["status"], r["best"]) for r in rows] == [
        ("1", "ok", "1"),
        ("9", "no output", "0"),
    ]


def test_a_sweep_in_worker_processes_exits_with_the_worst_job(tmp_path: Path) -> None:
    # With the joblib launcher the jobs run in other processes; the report carries their codes.
    done = run_cli(
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "top_k=1,5",
        "iterations=2",
        "votes=1",
        "llm.sim.time_scale=0",
        *FAST[3:],
        "cache.enabled=false",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        cwd=tmp_path,
        timeout=90,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    statuses = [r["status"] for r in _rows(tmp_path / "sweep")]
    assert statuses == ["ok", "no output"]
