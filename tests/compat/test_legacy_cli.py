"""post_generator.py: every seed command line means its documented overrides, and runs."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf

from postgen.compat import notes as legacy_notes
from postgen.compat.cli import build_parser, to_overrides
from postgen.config import STAGES
from tests.conftest import REPO, compose_config, settings_for

TOPIC = "my_topic.txt"

# The plan's "Usage Pattern Documentation", verbatim, and the override form each stands for.
SEED_LINES: dict[str, tuple[str, dict[str, int]]] = {
    "--enable-synthesis": ("synthesis=true", {s: 1 for s in STAGES}),
    "--parallel --max-concurrent 8 --enable-synthesis": (
        "synthesis=true parallel=true concurrency=8",
        {s: 8 for s in STAGES},
    ),
    "--topic-file my_topic.txt --iterations 15 --enable-synthesis --parallel --max-concurrent 8": (
        "topic_file=my_topic.txt iterations=15 synthesis=true parallel=true concurrency=8",
        {s: 8 for s in STAGES},
    ),
    "--topic-file my_topic.txt --iterations 20 --enable-synthesis --parallel "
    "--extract-concurrent 6 --score-concurrent 10": (
        "topic_file=my_topic.txt iterations=20 synthesis=true parallel=true "
        "stage.extract.concurrency=6 stage.score.concurrency=10",
        {"candidates": 5, "extract": 6, "score": 10, "synthesize": 5},
    ),
    "--topic-file my_topic.txt --iterations 15 --enable-synthesis": (
        "topic_file=my_topic.txt iterations=15 synthesis=true",
        {s: 1 for s in STAGES},
    ),
    "--topic-file my_topic.txt --iterations 15 --enable-synthesis --max-concurrent 1": (
        "topic_file=my_topic.txt iterations=15 synthesis=true concurrency=1",
        {s: 1 for s in STAGES},
    ),
}


@pytest.fixture
def in_topic_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / TOPIC).write_text("Why small teams should ship every day\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _resolved(*overrides: str) -> Any:
    return OmegaConf.to_container(compose_config(*overrides), resolve=True)


@pytest.mark.parametrize("line", SEED_LINES)
def test_seed_line_composes_like_its_documented_overrides(line: str, in_topic_dir: Path) -> None:
    documented, ceilings = SEED_LINES[line]
    assert _resolved(*to_overrides(shlex.split(line))) == _resolved(*shlex.split(documented))
    settings = settings_for(*to_overrides(shlex.split(line)))
    assert {s: settings.stage_concurrency(s) for s in STAGES} == ceilings
    assert settings.synthesis is True


def test_without_enable_synthesis_the_run_stops_after_candidates() -> None:
    assert "synthesis=false" in to_overrides(["--parallel"])
    assert settings_for(*to_overrides([])).synthesis is False


def test_parallel_with_max_concurrent_1_is_sequential() -> None:
    settings = settings_for(*to_overrides(["--parallel", "--max-concurrent", "1"]))
    assert settings.parallel is False
    assert {settings.stage_concurrency(s) for s in STAGES} == {1}


def test_verbose_topic_and_passthrough() -> None:
    topic = "It's fast, cheap = good? C:\\path\\"
    overrides = to_overrides(["--verbose", "--topic", topic, "votes=5", "--iterations", "4"])
    settings = settings_for(*overrides)
    assert (settings.log_level, settings.topic, settings.votes) == ("DEBUG", topic, 5)
    assert settings.iterations == 4


def test_an_explicit_override_wins_over_the_flag_for_the_same_key() -> None:
    overrides = to_overrides(["--iterations", "3", "iterations=7", "--enable-synthesis"])
    assert [o for o in overrides if o.startswith("iterations=")] == ["iterations=7"]
    assert settings_for(*overrides).iterations == 7


@pytest.mark.parametrize(
    "argv",
    [["--max-concurrent", "0"], ["--max-concurrent", "x"], ["--bogus"], ["notanoverride"]],
)
def test_bad_flags_get_argparse_one_line_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        to_overrides(argv)
    assert exc.value.code == 2
    errors = [ln for ln in capsys.readouterr().err.splitlines() if "error:" in ln]
    assert len(errors) == 1 and errors[0].startswith("post_generator.py: error:")


def test_help_shows_parallel_options_and_performance_notes() -> None:
    text = build_parser().format_help()
    assert "Parallel Processing Options:" in text and "Performance Notes:" in text
    for flag in ("--parallel", "--max-concurrent", "--extract-concurrent", "--score-concurrent"):
        assert flag in text


def test_performance_notes_without_results_say_how_to_measure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(legacy_notes, "benchmark_file", lambda: None)
    notes = legacy_notes.performance_notes()
    assert "python -m benchmarks.scheduler" in notes
    assert "x faster" not in notes  # no invented numbers


def test_performance_notes_quote_the_measured_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def row(strategy: str, makespan: float, throttled: float, failed: int) -> dict[str, Any]:
        return {
            "scenario": "rpm",
            "strategy": strategy,
            "makespan_s": makespan,
            "ratio": makespan / 5.0,
            "throttled_fraction": throttled,
            "failed": failed,
        }

    doc = {
        "quick": False,
        "scenarios": {"rpm": {"name": "rpm", "title": "hidden RPM 600"}},
        "rows": [
            row("sequential", 40.0, 0.0, 0),
            row("fixed5", 20.0, 0.0, 0),
            row("fixed16", 5.5, 0.2, 12),
            row("adaptive", 6.0, 0.01, 0),
        ],
    }
    results = tmp_path / "latest.json"
    results.write_text(json.dumps(doc), encoding="utf-8")
    monkeypatch.setattr(legacy_notes, "benchmark_file", lambda: results)
    notes = " ".join(legacy_notes.performance_notes().split())
    assert "hidden RPM 600: adaptive 1.20x the lower bound; 1.0% 429s, 0 failed" in notes
    assert "6.7x faster than sequential; 3.3x faster than fixed 5" in notes
    assert "fixed 16: 20.0% 429s, 12 failed" in notes


def test_seed_lines_run_end_to_end_on_the_simulator(in_topic_dir: Path) -> None:
    for n, line in enumerate(SEED_LINES):
        run_dir = in_topic_dir / f"run{n}"
        extra = [f"hydra.run.dir={run_dir}", "cache.enabled=false", "llm.sim.time_scale=0"]
        done = subprocess.run(
            [sys.executable, str(REPO / "post_generator.py"), *shlex.split(line), *extra],
            cwd=in_topic_dir,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, (line, done.stderr[-2000:])
        assert (run_dir / "post.md").is_file(), line
        config = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))["config"]
        documented = dict(o.split("=", 1) for o in shlex.split(SEED_LINES[line][0]))
        assert config["synthesis"] is True
        assert config["parallel"] is (documented.get("parallel") == "true"), line
        if "iterations" in documented:
            assert config["iterations"] == int(documented["iterations"])


def test_candidates_only_run_writes_no_post(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "post_generator.py"),
            "--iterations",
            "2",
            f"hydra.run.dir={run_dir}",
            "cache.enabled=false",
            "llm.sim.time_scale=0",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert not (run_dir / "post.md").exists()
    assert len((run_dir / "candidates.jsonl").read_text(encoding="utf-8").splitlines()) == 2
