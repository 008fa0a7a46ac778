"""What one `python -m postgen` invocation's jobs ended with: its exit code is the worst.

Hydra calls the task function once per job and drops what it returns, and a sweep's jobs may
run in other processes (joblib), whose codes only the sweep report sees. So each invocation
opens a `Ledger` for its duration (`recording`); the job function and the sweep report enter
codes into the one that is open, and the invocation returns its worst code.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Ledger", "note_codes", "recording"]

_SIGNALLED = (130, 143)  # Ctrl-C, SIGTERM


@dataclass
class Ledger:
    codes: list[int] = field(default_factory=list)
    started: list[Path] = field(default_factory=list)  # run dirs of jobs that began

    @property
    def signalled(self) -> int | None:
        """The code of a job a signal stopped (the sweep stops too), else None."""
        return next((c for c in self.codes if c in _SIGNALLED), None)

    @property
    def exit_code(self) -> int:
        return max(self.codes, default=0)


_open: ContextVar[Ledger | None] = ContextVar("postgen_ledger", default=None)


@contextmanager
def recording() -> Iterator[Ledger]:
    """A fresh ledger for one invocation (two invocations in one process never mix)."""
    ledger = Ledger()
    token = _open.set(ledger)
    try:
        yield ledger
    finally:
        _open.reset(token)


def note_codes(codes: Iterable[int]) -> None:
    """Enter exit codes into the open ledger (a no-op outside an invocation)."""
    ledger = _open.get()
    if ledger is not None:
        ledger.codes.extend(codes)
