"""postgen as a library: one call, from plain Python and from a running event loop."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from loguru import logger

import postgen
from postgen.errors import ConfigError

FAST = {
    "iterations": 2,
    "votes": 1,
    "llm": {"sim": {"time_scale": 0}},
    "cache": {"enabled": False},
}


def test_generate_writes_a_post_from_plain_python(tmp_path: Path) -> None:
    logger.disable("postgen")  # as `import postgen` left it (a CLI-mode test may have enabled it)
    heard: list[str] = []  # the module name of every record the host's sink receives
    host = logger.add(lambda message: heard.append(message.record["name"]), level="DEBUG")
    try:
        result = postgen.generate("Zero-downtime database migrations", out_dir=tmp_path, **FAST)
        logger.info("host still logs")
    finally:
        logger.remove(host)
    assert result.status == "ok" and result.post is not None
    assert "zero-downtime database migrations" in result.post.keywords
    assert (tmp_path / "post.md").read_text(encoding="utf-8").startswith("---\n")
    assert json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))["status"] == "ok"
    assert heard == [__name__]  # the host's sink survived, and postgen said nothing into it


async def test_agenerate_inside_a_running_loop() -> None:
    result = await postgen.agenerate("Миграции баз данных без простоя", **FAST)
    assert result.status == "ok" and result.post is not None
    assert result.settings.topic == "Миграции баз данных без простоя"


async def test_generate_from_code_whose_loop_is_running() -> None:
    # A notebook calls the sync function while its own loop runs.
    result = postgen.generate("Feature flags", **FAST, stage={"score": {"concurrency": 2}})
    assert result.status == "ok"
    assert result.settings.stage.score.concurrency == 2
    assert result.settings.stage_concurrency("score") == 1  # a sequential run: one at a time


def test_compose_checks_like_the_command_line() -> None:
    settings = postgen.compose(["iterations=3"], parallel=True, stage={"score": {"concurrency": 7}})
    assert settings.iterations == 3 and settings.parallel
    assert settings.stage_concurrency("score") == 7
    with pytest.raises(ConfigError, match=r"^iteration: is not a postgen setting; did you mean"):
        postgen.compose(["iteration=3"])
    with pytest.raises(ConfigError, match=r"^votes: must be between 1 and"):
        postgen.compose(votes=0)


def test_import_postgen_loads_no_heavy_machinery() -> None:
    # `import postgen` stays cheap: the run's machinery loads on first use. Counted, not timed.
    code = (
        "import sys, postgen\n"
        "heavy = {'hydra', 'omegaconf', 'httpx', 'prometheus_client', 'rich', 'matplotlib'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
