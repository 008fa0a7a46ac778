"""A server that throws the API key back (in a 401 cut inside the key, or in every reply):
the run fails or goes on with a clear reason, and no 8-character piece of the key is in any
file of the run dir or the store, nor on stdout or stderr."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.hostile.echo_server import echo_server
from tests.reliability.helpers import run_json

KEY = "pgLk9d8e7f6a1b2c3d4e5f6a7b"  # not sk-shaped: only the run's own Redactor knows it
FRAGMENTS = [KEY[i : i + 8] for i in range(len(KEY) - 7)]


def _run(url: str, work: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "llm.provider=openai",
        f"llm.base_url={url}",
        "llm.model=echo-model",
        "llm.api_key_env=PG_ECHO_KEY",
        "iterations=2",
        "votes=1",
        "top_k=1",
        "log_level=DEBUG",
        "stage.extract.retry.attempts=1",
        f"hydra.run.dir={work / 'run'}",
        cwd=work,
        env={"PG_ECHO_KEY": KEY},
    )


def _no_fragment_anywhere(work: Path, proc: subprocess.CompletedProcess[str]) -> None:
    files = [p for p in work.rglob("*") if p.is_file()]
    assert any(p.name == "run.json" for p in files)
    for path in files:
        data = path.read_bytes()
        found = [f for f in FRAGMENTS if f.encode() in data]
        assert not found, (path, found)
    for stream in (proc.stdout, proc.stderr):
        assert not [f for f in FRAGMENTS if f in stream], stream[-2000:]


@pytest.mark.parametrize("mode", ["deny-models", "deny-chat"])
def test_a_401_that_echoes_the_key_cut_inside_it_leaks_no_fragment(
    mode: str, tmp_path: Path
) -> None:
    with echo_server(mode) as url:
        proc = _run(url, tmp_path)
    assert proc.returncode == 1, proc.stderr
    error = run_json(tmp_path / "run")["error"]
    assert "401" in error or "auth" in error.lower() or "key" in error.lower(), error
    assert "Incorrect API key provided: ..." in error  # the reason is still there, readable
    _no_fragment_anywhere(tmp_path, proc)


def test_replies_that_echo_the_key_are_redacted_before_store_and_outputs(tmp_path: Path) -> None:
    with echo_server("echo") as url:
        proc = _run(url, tmp_path)
    candidates = (tmp_path / "run" / "candidates.jsonl").read_text().splitlines()
    assert len(candidates) == 2  # the replies were used, with the key blanked
    assert "the key you sent me is ***" in candidates[0]
    assert (tmp_path / ".postgen" / "calls.sqlite").exists()
    _no_fragment_anywhere(tmp_path, proc)
