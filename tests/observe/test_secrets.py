"""No API key in logs, metrics or anything else in the run dir (a sentinel key, searched for)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from postgen.cli.run import execute
from postgen.sim import SimConfig, SimServer
from tests.conftest import run_cli, settings_for

SENTINEL = "sk-SENTINEL-7f3a9c1e5b2d4f60a8e1"
WRONG = "sk-WRONGKEY-0b9d7e5c3a1f2e4d6c8b"
KEY_VAR = "POSTGEN_TEST_SENTINEL_KEY"


@pytest.fixture
def sim_with_key() -> Iterator[str]:
    with SimServer(SimConfig(api_key=SENTINEL, time_scale=0)) as server:
        yield server.base_url


def _overrides(url: str) -> list[str]:
    return [
        "llm.provider=openai",
        f"llm.base_url={url}",
        f"llm.api_key_env={KEY_VAR}",
        "parallel=true",
        "iterations=3",
        "votes=2",
        "top_k=2",
        "cache.enabled=false",
        "log_level=TRACE",
        "metrics.port=0",
    ]


def _files_containing(root: Path, needle: str, *, at_least: int) -> list[Path]:
    files = [p for p in root.rglob("*") if p.is_file()]
    assert len(files) >= at_least, files
    return [p for p in files if needle.encode() in p.read_bytes()]


def test_the_key_appears_nowhere_in_the_run_dir(sim_with_key: str, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    done = run_cli(*_overrides(sim_with_key), f"hydra.run.dir={run_dir}", cwd=tmp_path,
                   env={KEY_VAR: SENTINEL})  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert (run_dir / "post.md").exists()  # the key was really used
    # post, 3 jsonl, run.json, metrics.prom, postgen.log, timeline.png, .hydra/*
    assert not _files_containing(run_dir, SENTINEL, at_least=9)
    assert SENTINEL not in done.stdout + done.stderr


def test_a_rejected_key_is_not_echoed_either(
    sim_with_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv(KEY_VAR, WRONG)
    settings = settings_for(*_overrides(sim_with_key), "quiet=false")
    assert execute(settings, tmp_path, console=True) == 1
    assert "refused the API key" in (tmp_path / "postgen.log").read_text(encoding="utf-8")
    assert not _files_containing(tmp_path, WRONG, at_least=5)
    out = capfd.readouterr()
    assert WRONG not in out.out + out.err
