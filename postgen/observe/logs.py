"""Logging through loguru: stderr for people, postgen.log in the run dir for the record.

Stdlib records (Hydra, httpx, asyncio) are routed into loguru. Secrets never reach a sink:
every formatted line, tracebacks included, passes through a `Redactor` that blanks bearer
tokens, Authorization headers, `sk-...` keys and the run's own API key (defence in depth:
nothing should log them in the first place). Tracebacks never show local variables.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import IO, Any

from loguru import logger

__all__ = ["LOG_FILE", "Redactor", "run_logging"]

LOG_FILE = "postgen.log"
_STDERR_FORMAT = "<green>{time:HH:mm:ss}</green> <level>{level: <7}</level> {message}"
_FILE_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} {level: <7} {name}:{line} {message}"
_MASK = "***"
_PATTERNS = (
    # "Authorization: Bearer abc", "'authorization': 'Basic abc'", "api-key: abc", "x-api-key=abc"
    re.compile(
        r"(?i)(?<![\w-])((?:proxy-)?authorization|x-api-key|api[-_]?key)(['\"]?\s*[:=]\s*['\"]?)"
        r"(?:(bearer|basic|token)\s+)?(?=[^\s'\",;}]{6})[^\s'\",;}]+"
    ),
    re.compile(r"(?i)\b(bearer)(\s+)[A-Za-z0-9._~+/=-]{6,}"),
    re.compile(r"\b(sk-|sk_|pk-|rk-)([A-Za-z0-9_-]{8,})"),
)


class Redactor:
    """Blanks anything that looks like a credential, plus the exact secrets it was given."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add(self, secret: str | None) -> None:
        """Never let this value reach a log line (short values would mask too much)."""
        if secret and len(secret.strip()) >= 4:
            self._secrets.add(secret.strip())

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, _MASK)
        header, bearer, key = _PATTERNS
        text = header.sub(_mask_header, text)
        text = bearer.sub(lambda m: f"{m.group(1)}{m.group(2)}{_MASK}", text)
        return key.sub(lambda m: f"{m.group(1)}{_MASK}", text)

    def patch(self, record: Any) -> None:
        """A loguru patcher: redact the message itself (sinks redact the full line again)."""
        record["message"] = self(record["message"])


def _mask_header(m: re.Match[str]) -> str:
    scheme = f"{m.group(3)} " if m.group(3) else ""
    return f"{m.group(1)}{m.group(2)}{scheme}{_MASK}"


class _RedactingSink:
    """A file-like loguru sink that redacts every formatted line before writing it."""

    def __init__(self, redact: Redactor, stream: IO[str] | None = None) -> None:
        self._redact, self._stream = redact, stream

    def write(self, message: str) -> None:
        # stderr is looked up per line, so a live progress display that redirects it works.
        stream = self._stream if self._stream is not None else sys.stderr
        stream.write(self._redact(message))

    def flush(self) -> None:
        stream = self._stream if self._stream is not None else sys.stderr
        stream.flush()


class _InterceptHandler(logging.Handler):
    """Route stdlib records (Hydra, httpx, asyncio) into loguru, keeping the caller's place."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        frame: FrameType | None = logging.currentframe()
        depth = 0
        while frame is not None and (depth == 0 or frame.f_code.co_filename == logging.__file__):
            frame, depth = frame.f_back, depth + 1
        logger.opt(depth=depth, exception=record.exc_info).log(level, record.getMessage())


@contextmanager
def run_logging(
    out_dir: Path, level: str, *, quiet: bool, console: bool = False
) -> Iterator[Redactor]:
    """postgen.log for one run, and with `console` the stderr lines; removed afterwards.

    `console=True` is the command line's mode: it owns the process, so it replaces loguru's
    handlers for the run and leaves a stderr sink for warnings afterwards. Otherwise (postgen
    inside someone's program) only the run's file sink is added and removed: the host's sinks
    are never touched, and postgen's records reach any sink (the file too) only where the
    host called `logger.enable("postgen")`. Yields the run's `Redactor`: add the API key to it
    as soon as it is known.
    """
    redact = Redactor()
    level = level.upper()
    if console:
        logger.remove()
        logger.configure(patcher=redact.patch)
        logger.enable("postgen")  # a library is disabled by default (postgen/__init__.py)
    sinks = [] if not console else [_console_sink(redact, "WARNING" if quiet else level)]
    logfile = open(out_dir / LOG_FILE, "a", encoding="utf-8")  # noqa: SIM115 (closed below)
    sinks.append(
        logger.add(
            _RedactingSink(redact, logfile),
            level="TRACE" if level == "TRACE" else "DEBUG",
            format=_FILE_FORMAT,
            colorize=False,
            backtrace=False,
            diagnose=False,
        )
    )
    previous = _route_stdlib()
    try:
        yield redact
    finally:
        for sink in sinks:
            logger.remove(sink)
        logfile.close()
        _restore_stdlib(previous)
        if console:
            logger.configure(patcher=None)
            logger.add(sys.stderr, level="WARNING", format=_STDERR_FORMAT, diagnose=False)


def _console_sink(redact: Redactor, level: str) -> int:
    return logger.add(
        _RedactingSink(redact),
        level=level,
        format=_STDERR_FORMAT,
        colorize=sys.stderr.isatty(),
        backtrace=False,
        diagnose=False,
    )


def _route_stdlib() -> tuple[list[logging.Handler], int]:
    root = logging.getLogger()
    previous = (root.handlers[:], root.level)
    root.handlers = [_InterceptHandler()]
    root.setLevel(logging.INFO)
    for name in ("hydra", "postgen", "scheduler"):
        logging.getLogger(name).propagate = True
    # httpx logs every request line at INFO; the summary and metrics say it better.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    return previous


def _restore_stdlib(previous: tuple[list[logging.Handler], int]) -> None:
    root = logging.getLogger()
    root.handlers, level = previous
    root.setLevel(level)
