"""Ctrl-C and SIGTERM: the first stops the run cleanly, a second exits at once.

The first signal cancels the task running the pipeline: nothing new is dispatched, requests
in flight are cancelled, and `pipeline.run` returns what it has (`stopped="interrupted"`) so
the partial files and `run.json` get written. The exit code is 128 + the signal number
(130 for SIGINT, 143 for SIGTERM).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable
from types import FrameType
from typing import TypeVar

from loguru import logger

__all__ = ["Interrupts"]

T = TypeVar("T")
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupts:
    """Traps SIGINT/SIGTERM around one coroutine; `exit_code` is set once one arrived."""

    __slots__ = ("signum",)

    def __init__(self) -> None:
        self.signum: int | None = None

    @property
    def name(self) -> str | None:
        return None if self.signum is None else signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int | None:
        return None if self.signum is None else 128 + self.signum

    async def run(self, work: Awaitable[T]) -> T:
        """Await `work` with the handlers installed (only possible in the main thread)."""
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        installed: list[signal.Signals] = []
        for sig in _SIGNALS:
            try:
                loop.add_signal_handler(sig, self._first, sig, task, loop)
            except (NotImplementedError, RuntimeError, ValueError):
                continue  # not the main thread, or no loop signal support (Windows)
            installed.append(sig)
        try:
            return await work
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)  # restores the default handler
                if self.signum is not None:
                    signal.signal(sig, _exit_now)  # until the process exits

    def _first(
        self, sig: signal.Signals, task: asyncio.Task[object], loop: asyncio.AbstractEventLoop
    ) -> None:
        self.signum = int(sig)
        # From here on a signal exits at once; a plain handler also runs while the loop is busy.
        for other in _SIGNALS:
            loop.remove_signal_handler(other)
            signal.signal(other, _exit_now)
        logger.warning(
            "{}: stopping, writing what is done (press Ctrl-C again to quit at once)", sig.name
        )
        task.cancel()


def _exit_now(signum: int, frame: FrameType | None) -> None:
    os._exit(128 + signum)
