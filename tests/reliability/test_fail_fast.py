"""Fail fast where retrying is pointless: one line naming the endpoint (never the key), exit 1."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.reliability.helpers import external_sim, run_json

KEY = "pg-test-key-4f1c9b"


def _one_error_line(stderr: str) -> str:
    errors = [ln for ln in stderr.splitlines() if " ERROR " in ln]
    assert len(errors) == 1, stderr
    return errors[0]


def _check(work: Path, args: list[str], expect: str, endpoint: str, *, env: dict[str, str]) -> None:
    # `timeout` guards against minutes of retries; how few requests it took is asserted below.
    proc = run_cli(
        *args, "iterations=3", f"hydra.run.dir={work / 'run'}", cwd=work, env=env, timeout=60
    )
    assert proc.returncode == 1, proc.stderr
    line = _one_error_line(proc.stderr)
    assert f"run failed: {endpoint}" in line
    assert expect in line
    assert "Traceback" not in proc.stderr
    for text in (proc.stderr, (work / "run" / "run.json").read_text()):
        assert KEY not in text
        assert "wrong-key-77" not in text
    doc = run_json(work / "run")
    assert doc["status"] == "failed"
    assert expect in doc["error"]
    assert not (work / "run" / "post.md").exists()


@pytest.mark.parametrize(
    ("sim_args", "run_args", "key", "expect"),
    [
        (["--api-key", KEY], [], "wrong-key-77", "the endpoint refused the API key (HTTP 401"),
        (["--insufficient-quota"], [], KEY, "the account has no quota left (HTTP 429"),
        ([], ["llm.model=no-such-model"], KEY, "unknown model (HTTP 404 model_not_found"),
    ],
    ids=["401", "insufficient_quota", "unknown_model"],
)
def test_fatal_answers_abort_at_once(
    sim_args: list[str], run_args: list[str], key: str, expect: str, work: Path
):
    with external_sim("--time-scale", "0", *sim_args) as sim:
        args = [*sim.endpoint_args(), "llm.api_key_env=PG_TEST_KEY", *run_args]
        _check(work, args, expect, sim.url, env={"PG_TEST_KEY": key})
        # Aborted on the first answer: no retries, and the rest was never sent.
        assert sim.stats()["requests"] <= 2


def test_refused_connection_aborts_after_a_short_retry(work: Path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    args = ["llm.provider=openai", f"llm.base_url={url}"]
    _check(work, args, "All connection attempts failed", f"cannot reach {url}", env={})
