"""A run dir that holds another run's outputs is not written over by accident."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_cli
from tests.reliability.helpers import run_json

QUICK = ("iterations=2", "votes=1", "top_k=1", "llm.sim.time_scale=0", "quiet=true")


def test_a_finished_run_dir_is_refused_unless_overwrite_is_given(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    assert run_cli(*QUICK, f"hydra.run.dir={run_dir}", cwd=tmp_path).returncode == 0
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}

    again = run_cli(*QUICK, "seed=9", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert again.returncode == 2
    assert again.stderr.splitlines() == [
        f"postgen: config error: hydra.run.dir: {run_dir} holds another run's files (run.json);"
        f" resume={run_dir} continues that run, overwrite=true replaces it, or give a new"
        " directory"
    ]
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()} == before

    forced = run_cli(*QUICK, "seed=9", "overwrite=true", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert run_json(run_dir)["config"]["seed"] == 9
