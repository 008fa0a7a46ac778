"""A real llama.cpp server (llama-cpp-python) on a free loopback port, for the real-model tier.

The model is SmolLM2-135M-Instruct (Q4_1, ~98 MB), found through POSTGEN_TEST_GGUF: the
.gguf file itself, or a directory holding it (`.ci/real-model-setup` fills one). Without
llama_cpp or the model the tier is skipped, with the reason and the command that fixes it.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = ["GGUF_ENV", "LlamaServer", "find_gguf", "llama_server", "skip_reason"]

GGUF_ENV = "POSTGEN_TEST_GGUF"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
N_CTX = 2048
START_TIMEOUT_S = 120.0  # loading a 98 MB model takes seconds; this is only the hang guard
SETUP = "run `bash .ci/real-model-setup` and export the POSTGEN_TEST_GGUF it prints"


def find_gguf() -> Path | None:
    where = os.environ.get(GGUF_ENV, "").strip()
    if not where:
        return None
    path = Path(where).expanduser()
    if path.is_dir():
        found = sorted(path.rglob(GGUF_NAME)) or sorted(path.rglob("*.gguf"))
        return found[0] if found else None
    return path if path.is_file() else None


def skip_reason() -> str | None:
    """Why the tier cannot run here, or None when it can."""
    missing = [m for m in ("llama_cpp", "uvicorn", "sse_starlette") if not _importable(m)]
    if missing:
        return f"llama-cpp-python[server] is not installed ({', '.join(missing)}); {SETUP}"
    if find_gguf() is None:
        value = os.environ.get(GGUF_ENV)
        state = f"{GGUF_ENV}={value!r} holds no .gguf" if value else f"{GGUF_ENV} is not set"
        return f"no model: {state}; {SETUP}"
    return None


def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@dataclass(frozen=True)
class LlamaServer:
    base_url: str
    model_path: Path
    pid: int
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def llama_server(
    gguf: Path, log_dir: Path, extra_args: tuple[str, ...] = ()
) -> Iterator[LlamaServer]:
    """`python -m llama_cpp.server` with one thread (steady on a 2-core CI box), stopped by PID.

    `--interrupt_requests false`: otherwise a request arriving while a stream runs cuts that
    stream short, and the tier would measure the server's pre-emption, not postgen.
    """
    port = _free_port()
    log = log_dir / "llama_server.log"
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(gguf),
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", str(N_CTX), "--n_threads", "1",
        "--interrupt_requests", "false",
        "--seed", "7",
        *extra_args,
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_ready(proc, base_url, log)
        yield LlamaServer(base_url, gguf, proc.pid, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def _wait_ready(proc: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"llama_cpp.server exited {proc.returncode}: {log.read_text()[-2000:]}"
            )
        try:
            if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"llama_cpp.server did not start in {START_TIMEOUT_S:g} s")
