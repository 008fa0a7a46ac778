"""A rerun replays finished calls from the store, and says so instead of posing as fast."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli

ARGS = ("iterations=2", "votes=1", "llm.sim.time_scale=0")


def test_the_second_run_says_how_much_it_replayed(tmp_path: Path) -> None:
    first = run_cli(*ARGS, f"hydra.run.dir={tmp_path / 'a'}", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "replayed" not in first.stderr
    sent = json.loads((tmp_path / "a" / "run.json").read_text())["totals"]
    assert sent["replayed"] == 0 and sent["requests"] == 2 + 2 + 2 + 1

    again = run_cli(*ARGS, f"hydra.run.dir={tmp_path / 'b'}", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    totals = json.loads((tmp_path / "b" / "run.json").read_text())["totals"]
    assert totals == {**totals, "requests": 0, "replayed": sent["requests"]}
    assert "replayed 7 of 7 calls from the call store (0 sent)" in again.stderr
    assert "cache.enabled=false" in again.stderr
