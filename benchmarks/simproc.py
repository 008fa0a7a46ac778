"""A standalone `python -m postgen.sim` subprocess: free port, URL from stdout, stopped by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from types import TracebackType
from typing import Any

import httpx

__all__ = ["SimProcess"]


class SimProcess:
    """The simulator in its own process: `with SimProcess(["--rpm", "600"]) as sim: ...`."""

    def __init__(self, args: list[str]) -> None:
        self.args = args
        self.proc: subprocess.Popen[str] | None = None
        self.root_url = ""
        self.started_at = 0.0  # time.monotonic() when the URL line arrived (≈ the sim's t=0)

    @property
    def base_url(self) -> str:
        return self.root_url + "/v1"

    def start(self) -> SimProcess:
        cmd = [sys.executable, "-m", "postgen.sim", "--port", "0", "--any-model", *self.args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=os.environ.copy())
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        self.started_at = time.monotonic()
        if "listening on" not in line:
            self.stop()
            raise RuntimeError(f"postgen.sim did not start: {line!r}")
        self.root_url = line.strip().rsplit(" ", 1)[-1]
        return self

    def stats(self) -> dict[str, Any]:
        data: dict[str, Any] = httpx.get(self.root_url + "/stats", timeout=10).json()
        return data

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> SimProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
