"""Logging through loguru: stderr for people, postgen.log in the run dir for the record."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from loguru import logger

__all__ = ["run_logging"]

_STDERR_FORMAT = "<green>{time:HH:mm:ss}</green> <level>{level: <7}</level> {message}"
_FILE_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} {level: <7} {name}:{line} {message}"


class _InterceptHandler(logging.Handler):
    """Route stdlib records (Hydra, httpx, asyncio) into loguru."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).log(level, record.getMessage())


@contextmanager
def run_logging(out_dir: Path, level: str, *, quiet: bool) -> Iterator[None]:
    """Log handlers for one run, removed afterwards (a sweep runs many jobs in one process)."""
    logger.remove()
    console = logger.add(
        sys.stderr, level="WARNING" if quiet else level.upper(), format=_STDERR_FORMAT
    )
    logfile = logger.add(out_dir / "postgen.log", level="DEBUG", format=_FILE_FORMAT)
    logging.basicConfig(handlers=[_InterceptHandler()], level=logging.INFO, force=True)
    # httpx logs every request line at INFO; the summary and metrics say it better.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.remove(console)
        logger.remove(logfile)
        logger.add(sys.stderr, level="WARNING", format=_STDERR_FORMAT)
