"""The budget guard: no new request once `budget.max_requests` / `budget.max_tokens` is reached."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_cli
from tests.reliability.helpers import accounted_for, run_json

FAST = ("llm.sim.time_scale=0", "votes=1")


def test_max_requests_stops_dispatching_and_says_so(work: Path):
    run_dir = work / "run"
    proc = run_cli(
        *FAST, "iterations=4", "budget.max_requests=6", f"hydra.run.dir={run_dir}", cwd=work
    )
    assert proc.returncode == 1, proc.stderr  # stopped before a post could be written
    assert "budget reached: budget.max_requests=6 reached (6 requests sent)" in proc.stderr
    doc = run_json(run_dir)
    assert doc["status"] == "partial"
    assert doc["stopped"] == "budget"
    assert "stopped early: budget.max_requests=6 reached (6 requests sent)" in doc["notes"]
    assert doc["totals"]["requests"] == 6  # 4 candidates, 2 cards, then nothing
    accounted_for(doc)
    reasons = [f["reason"] for st in doc["stages"].values() for f in st["failed"]]
    assert reasons and all(r.startswith("budget: budget.max_requests=6") for r in reasons)
    assert len((run_dir / "candidates.jsonl").read_text().splitlines()) == 4


def test_max_tokens_stops_dispatching(work: Path):
    run_dir = work / "run"
    args = (*FAST, "iterations=6", "synthesis=false", "budget.max_tokens=3000")
    proc = run_cli(*args, f"hydra.run.dir={run_dir}", cwd=work)
    assert proc.returncode == 0, proc.stderr  # some candidates were written
    doc = run_json(run_dir)
    assert doc["status"] == "partial"
    assert doc["stopped"] == "budget"
    assert 0 < doc["stages"]["candidates"]["succeeded"] < 6
    assert doc["totals"]["tokens"] >= 3000  # the call in flight finished; no new one started
    accounted_for(doc)


def test_replayed_calls_cost_nothing(work: Path):
    first = run_cli(*FAST, "iterations=2", f"hydra.run.dir={work / 'a'}", cwd=work)
    assert first.returncode == 0, first.stderr
    again = run_cli(
        *FAST, "iterations=2", "budget.max_requests=1", f"hydra.run.dir={work / 'b'}", cwd=work
    )
    assert again.returncode == 0, again.stderr
    doc = run_json(work / "b")
    assert doc["status"] == "ok"
    assert doc["stopped"] is None
    assert doc["totals"]["requests"] == 0
