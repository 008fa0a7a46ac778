"""The front door of the command line: help, version, a closed pipe, near-miss keys."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import postgen
from tests.conftest import run_cli


def test_help_says_what_it_does_and_how() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0 and proc.stderr == ""
    text = proc.stdout
    assert "powered by Hydra" not in text
    assert text.startswith("usage: python -m postgen")
    for needed in (
        "topic=",
        "iterations=",
        "parallel=true",
        "concurrency=",
        "llm=openai",
        "cache.enabled=false",
        "Examples:",
        "Exit codes: 0",
        "outputs/DATE/TIME",
        "--cfg job",
    ):
        assert needed in text, needed
    assert len(text.splitlines()) < 60  # a page, not the whole config


def test_short_help_is_the_same_page() -> None:
    assert run_cli("-h").stdout == run_cli("--help").stdout


def test_version_is_postgens() -> None:
    proc = run_cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"postgen {postgen.__version__}"


@pytest.mark.parametrize("args", [["--help"], ["--cfg", "job"]])
def test_a_closed_pipe_is_no_traceback(args: list[str], tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # closed before postgen writes a byte: every write fails with EPIPE
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "postgen", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            cwd=tmp_path,
            check=False,
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
    assert proc.returncode == 0


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [
        ("iteration=3", "iteration: is not a postgen setting; did you mean iterations?"),
        ("stage.score.concurency=3", "did you mean stage.score.concurrency?"),
        ("+brief.keyword=x", "did you mean brief.keywords?"),
    ],
)
def test_a_near_miss_gets_a_did_you_mean(typo: str, suggestion: str, tmp_path: Path) -> None:
    proc = run_cli(typo, cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and suggestion in lines[0], proc.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written
