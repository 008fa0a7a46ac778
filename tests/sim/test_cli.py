"""`python -m postgen.sim` as a process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx

from postgen.sim.cli import build_parser, config_from_args

from .helpers import chat


def test_cli_options_map_to_config() -> None:
    args = build_parser().parse_args(
        ["--rpm", "100", "--schedule", "5:capacity=2", "--no-rate-headers", "--model", "m"]
    )
    config = config_from_args(args)
    assert config.rpm == 100 and not config.rate_headers
    assert config.schedule[0].capacity == 2 and "m" in config.models and "sim-1" in config.models
    assert config_from_args(build_parser().parse_args(["--any-model"])).models == ()


def test_cli_serves_on_a_free_port() -> None:
    command = [sys.executable, "-m", "postgen.sim", "--port", "0", "--time-scale", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("postgen.sim listening on http://127.0.0.1:")
        root = line.rsplit(" ", 1)[1]
        response = httpx.post(f"{root}/v1/chat/completions", json=chat("hi"), timeout=10)
        assert response.status_code == 200
        assert httpx.get(f"{root}/stats").json()["completed"] == 1
    finally:
        os.kill(process.pid, signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        if process.stdout is not None:
            process.stdout.close()
