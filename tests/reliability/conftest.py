"""Fixtures of the reliability tests: one uninterrupted reference run per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.reliability.helpers import WORKLOAD, outputs, run_json


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The files of an uninterrupted `WORKLOAD` run (in-process simulator, no latency)."""
    work = tmp_path_factory.mktemp("reference")
    out = work / "run"
    proc = run_cli(
        *WORKLOAD,
        "llm.sim.time_scale=0",
        "cache.enabled=false",
        f"hydra.run.dir={out}",
        cwd=work,
    )
    assert proc.returncode == 0, proc.stderr
    assert run_json(out)["status"] == "ok"
    assert not (work / ".postgen").exists()  # cache.enabled=false: no store at all
    files = outputs(out)
    assert set(files) == {"candidates.jsonl", "cards.jsonl", "scores.jsonl", "post.md"}
    return files


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """The directory runs start in: the store lands in its `.postgen/`."""
    return tmp_path
