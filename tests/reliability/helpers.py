"""Real processes for the reliability tests: a standalone simulator and `python -m postgen` runs."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

# Small, fixed workloads: 4 candidates, 4 cards, 8 votes, 1 synthesis = 17 calls.
WORKLOAD = ("iterations=4", "votes=2", "top_k=2", "parallel=true", "concurrency=2", "seed=7")


class Sim:
    """`python -m postgen.sim` in a subprocess; `url` is its OpenAI base URL."""

    def __init__(self, proc: subprocess.Popen[str], root: str) -> None:
        self.proc = proc
        self.root = root
        self.url = f"{root}/v1"

    def stats(self) -> dict[str, Any]:
        response = httpx.get(f"{self.root}/stats", timeout=5)
        response.raise_for_status()
        doc: dict[str, Any] = response.json()
        return doc

    def endpoint_args(self) -> list[str]:
        """Overrides that point a run at this simulator instead of an in-process one."""
        return ["llm.provider=openai", f"llm.base_url={self.url}"]

    def wait_idle(self, timeout: float = 10) -> dict[str, Any]:
        """The stats once no request is in flight (requests of a killed client finish too)."""
        return wait_for(lambda: (s := self.stats())["concurrency"] == 0 and s, timeout)


@contextmanager
def external_sim(*args: str) -> Iterator[Sim]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "postgen.sim", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on" in line, line + (proc.stderr.read() if proc.stderr else "")
        yield Sim(proc, line.split("listening on", 1)[1].strip())
    finally:
        proc.terminate()
        proc.communicate(timeout=10)  # also closes the pipes


def launch(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`python -m postgen ARGS` started in the background, as a user would start it."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.Popen(
        [sys.executable, "-m", "postgen", *args],
        cwd=cwd,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def interrupt(proc: subprocess.Popen[str], sig: int = signal.SIGINT) -> tuple[int, str]:
    """Send `sig`; the exit code and stderr. The 30 s bound only guards against a hang."""
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=30)
    return proc.returncode, stderr


def wait_for(predicate: Callable[[], Any], timeout: float = 20, every: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")


def stored_calls(path: Path) -> int:
    """Rows in a call store (0 while it does not exist yet)."""
    if not path.exists():
        return 0
    db = sqlite3.connect(path, timeout=5)
    try:
        (n,) = db.execute("SELECT count(*) FROM calls").fetchone()
        return int(n)
    except sqlite3.OperationalError:  # created, not yet migrated
        return 0
    finally:
        db.close()


def run_json(run_dir: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((run_dir / "run.json").read_text())
    return doc


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def outputs(run_dir: Path) -> dict[str, str]:
    """The files a user keeps: the JSONL files and the post."""
    names = ("candidates.jsonl", "cards.jsonl", "scores.jsonl", "post.md")
    return {n: (run_dir / n).read_text() for n in names if (run_dir / n).exists()}


def accounted_for(doc: dict[str, Any]) -> None:
    """Every item of every stage either succeeded or is listed with its reason."""
    for name, st in doc["stages"].items():
        assert st["items"] == st["succeeded"] + len(st["failed"]), (name, st)
        assert all(f["reason"] for f in st["failed"]), (name, st["failed"])
