"""What a run leaves in its directory."""

from __future__ import annotations

import json
from pathlib import Path

from postgen.cli.run import execute
from postgen.observe.stats import StageStats
from tests.conftest import settings_for


def test_a_failed_run_removes_an_earlier_post_and_records_its_exit_code(tmp_path: Path) -> None:
    (tmp_path / "post.md").write_text("an old post", encoding="utf-8")
    # The simulator has no such model: the run aborts at the first call.
    settings = settings_for(
        "llm.model=no-such-model", "llm.sim.time_scale=0", "cache.enabled=false", "quiet=true"
    )
    assert execute(settings, tmp_path) == 1
    assert not (tmp_path / "post.md").exists()
    run = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    assert run["status"] == "failed" and run["exit_code"] == 1
    assert "no-such-model" in run["error"] or "unknown model" in run["error"]


def test_run_json_records_exit_code_zero_for_a_post(tmp_path: Path) -> None:
    settings = settings_for(
        "iterations=2", "votes=1", "llm.sim.time_scale=0", "cache.enabled=false", "quiet=true"
    )
    assert execute(settings, tmp_path) == 0
    assert json.loads((tmp_path / "run.json").read_text())["exit_code"] == 0


def test_failures_are_listed_in_input_order() -> None:
    stats = StageStats("score")
    for item in ("10", "2", "post", "1/vote2"):
        stats.record_item(item, RuntimeError("boom"))
    assert [f["item"] for f in stats.as_dict()["failed"]] == ["1/vote2", "2", "10", "post"]


def test_a_run_that_produced_nothing_ends_with_one_line_saying_why(tmp_path: Path) -> None:
    # Every reply is malformed JSON: the candidates are written, every card fails, and the
    # run ends (exit 1) saying why there is no post, not only with each item's warning.
    settings = settings_for(
        "iterations=2",
        "votes=1",
        "llm.sim.time_scale=0",
        "llm.sim.malformed_rate=1.0",
        "cache.enabled=false",
        "quiet=true",
    )
    assert execute(settings, tmp_path, console=True) == 1
    log = (tmp_path / "postgen.log").read_text(encoding="utf-8").splitlines()
    closing = [line for line in log if "run failed:" in line]
    assert len(closing) == 1
    assert closing[0].endswith("run failed: no card was scored, so there is nothing to synthesize")
