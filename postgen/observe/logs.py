"""Logging through loguru: stderr for people, postgen.log in the run dir for the record.

Stdlib records (Hydra, httpx, asyncio) are routed into loguru. Secrets never reach a sink:
every formatted line, tracebacks included, passes through a `Redactor` that blanks bearer
tokens, Authorization headers, `sk-...` keys and the run's own API key (defence in depth:
nothing should log them in the first place). Tracebacks never show local variables.

The `Redactor` is the one redaction of the run: the same instance blanks the key in log lines,
run.json, the JSONL outputs and the replies written to the call store. It also blanks any
prefix of a secret of `MIN_FRAGMENT` characters or more, so text cut short inside a key (an
error message shortened to 200 characters) leaks no usable fragment.

A sink that cannot be written (a full disk) says so once, on one line, and then drops its
lines: logging never sprays tracebacks over the console nor stops the run.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import IO, Any

from loguru import logger

from postgen.llm.text import MIN_SECRET_PREFIX
from postgen.llm.text import redact as redact_secret

__all__ = ["LOG_FILE", "MIN_FRAGMENT", "Redactor", "run_logging"]

LOG_FILE = "postgen.log"
_STDERR_FORMAT = "<green>{time:HH:mm:ss}</green> <level>{level: <7}</level> {message}"
_FILE_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} {level: <7} {name}:{line} {message}"
_MASK = "***"
# The shortest prefix of a secret that is blanked wherever it appears (one rule, the client's).
MIN_FRAGMENT = MIN_SECRET_PREFIX
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
            if len(secret) >= MIN_FRAGMENT:
                text = redact_secret(text, secret)  # the key and its ≥8-char prefixes
        header, bearer, key = _PATTERNS
        text = header.sub(_mask_header, text)
        text = bearer.sub(lambda m: f"{m.group(1)}{m.group(2)}{_MASK}", text)
        return key.sub(lambda m: f"{m.group(1)}{_MASK}", text)

    def value(self, value: Any) -> Any:
        """`value` (a JSON-like tree: dicts, lists, strings) with every string redacted."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value

    def patch(self, record: Any) -> None:
        """A loguru patcher: redact the message itself (sinks redact the full line again)."""
        record["message"] = self(record["message"])


def _mask_header(m: re.Match[str]) -> str:
    scheme = f"{m.group(3)} " if m.group(3) else ""
    return f"{m.group(1)}{m.group(2)}{scheme}{_MASK}"


class _RedactingSink:
    """A file-like loguru sink that redacts every formatted line before writing it.

    When the stream cannot be written (ENOSPC, EIO, a closed pipe) it says so once, on one
    line of stderr, and drops its lines from then on.
    """

    def __init__(
        self,
        redact: Redactor,
        stream: IO[str] | None = None,
        name: str = "",
        problems: list[str] | None = None,
    ) -> None:
        self._redact, self._stream, self._name = redact, stream, name
        self._problems = problems
        self.broken: OSError | ValueError | None = None

    def write(self, message: str) -> None:
        if self.broken is not None:
            return
        try:
            self._current().write(self._redact(message))
        except (OSError, ValueError) as exc:  # ValueError: unencodable text, a closed file
            self._break(exc)

    def flush(self) -> None:
        if self.broken is not None:
            return
        try:
            self._current().flush()
        except (OSError, ValueError) as exc:  # ValueError: unencodable text, a closed file
            self._break(exc)

    def _current(self) -> IO[str]:
        # stderr is looked up per line, so a live progress display that redirects it works.
        return self._stream if self._stream is not None else sys.stderr

    def _break(self, exc: OSError | ValueError) -> None:
        self.broken = exc
        if self._stream is None:
            return  # the console itself is gone: there is nowhere left to say it
        why = f"[Errno {exc.errno}] {exc.strerror}" if isinstance(exc, OSError) else str(exc)
        problem = f"cannot write {self._name}: {why}; its lines are dropped from here on"
        if self._problems is not None:  # the run reports it, in its own closing line
            self._problems.append(problem)
            return
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(f"postgen: {problem}\n")


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
    out_dir: Path,
    level: str,
    *,
    quiet: bool,
    console: bool = False,
    redact: Redactor | None = None,
    problems: list[str] | None = None,
) -> Iterator[Redactor]:
    """postgen.log for one run, and with `console` the stderr lines; removed afterwards.

    `console=True` is the command line's mode: it owns the process, so it replaces loguru's
    handlers for the run and leaves a stderr sink for warnings afterwards. Otherwise (postgen
    inside someone's program) only the run's file sink is added and removed: the host's sinks
    are never touched, and postgen's records reach any sink (the file too) only where the
    host called `logger.enable("postgen")`. Yields the run's `Redactor` (`redact`, or a new
    one): add the API key to it as soon as it is known. With `problems`, a log file that
    cannot be written is reported there instead of on stderr at once, so the run can say
    everything that went wrong in one closing line.
    """
    redact = redact if redact is not None else Redactor()
    level = level.upper()
    if console:
        logger.remove()
        logger.configure(patcher=redact.patch)
        logger.enable("postgen")  # a library is disabled by default (postgen/__init__.py)
    sinks = [] if not console else [_console_sink(redact, "WARNING" if quiet else level)]
    logfile = open(out_dir / LOG_FILE, "a", encoding="utf-8")  # noqa: SIM115 (closed below)
    sinks.append(
        logger.add(
            _RedactingSink(redact, logfile, str(out_dir / LOG_FILE), problems),
            level="TRACE" if level == "TRACE" else "DEBUG",
            format=_FILE_FORMAT,
            colorize=False,
            backtrace=False,
            diagnose=False,
            catch=False,  # the sink handles its own errors, in one line
        )
    )
    previous = _route_stdlib()
    try:
        yield redact
    finally:
        for sink in sinks:
            logger.remove(sink)
        with contextlib.suppress(OSError):  # a full disk: its lines were already dropped
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
        catch=False,  # the sink handles its own errors
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
