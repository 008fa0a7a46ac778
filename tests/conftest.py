"""Shared fixtures: the real conf/, composed the way the CLI composes it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from loguru import logger
from omegaconf import DictConfig

from postgen.cli.compose import load_settings, register_schema
from postgen.config import Settings

REPO = Path(__file__).resolve().parent.parent
CONF = REPO / "conf"


def compose_config(*overrides: str) -> DictConfig:
    """Compose the real conf/ with overrides, as `python -m postgen` does."""
    register_schema()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def settings_for(*overrides: str) -> Settings:
    return load_settings(compose_config(*overrides))


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -m postgen ARGS` in a subprocess, as a user would run it."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(
        [sys.executable, "-m", "postgen", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def run_dir(tmp_path: Path) -> Iterator[Path]:
    out = tmp_path / "run"
    yield out


@pytest.fixture
def postgen_logs() -> Iterator[None]:
    """postgen's loguru records on, as the command line has them (a library has them off)."""
    logger.enable("postgen")
    yield
    logger.disable("postgen")
