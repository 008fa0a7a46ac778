"""The API key comes from the environment only and is written nowhere."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_cli
from tests.reliability.helpers import external_sim, run_json

SENTINEL = "pgsentinel9d2f71c4e0"


def test_the_key_is_in_no_file_of_the_run_nor_the_store(work: Path):
    run_dir = work / "run"
    with external_sim("--time-scale", "0", "--api-key", SENTINEL, "--error-rate", "0.2") as sim:
        proc = run_cli(
            *sim.endpoint_args(),
            "llm.api_key_env=PG_SECRET_TEST_KEY",
            "iterations=3",
            "parallel=true",
            "log_level=DEBUG",
            f"hydra.run.dir={run_dir}",
            cwd=work,
            env={"PG_SECRET_TEST_KEY": SENTINEL},
        )
        assert sim.stats()["by_status"].get("401", 0) == 0  # the key was sent, and accepted
    assert proc.returncode == 0, proc.stderr
    assert run_json(run_dir)["config"]["llm"]["api_key_env"] == "PG_SECRET_TEST_KEY"
    store = work / ".postgen"
    files = [p for root in (run_dir, store) for p in root.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"run.json", "postgen.log", "config.yaml", "hydra.yaml", "overrides.yaml"} <= names
    assert "calls.sqlite" in names
    for path in files:
        assert SENTINEL.encode() not in path.read_bytes(), path
    assert SENTINEL not in proc.stdout + proc.stderr


def test_a_key_given_in_config_is_refused(work: Path):
    proc = run_cli(f"+llm.api_key={SENTINEL}", f"hydra.run.dir={work / 'run'}", cwd=work)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "postgen: config error: llm.api_key: is not a postgen setting;"
        " API keys come from the environment (llm.api_key_env)"
    ]
    assert not (work / "run").exists()  # Hydra's saved overrides (with the key) are gone too
