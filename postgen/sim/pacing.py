"""Simulated generation time on the loop clock, cut short when the client leaves.

Waits accumulate to absolute deadlines, so many small per-token waits cost one sleep per
`quantum` (and never run early); a wait races the client's `gone` event when the server
notices disconnects.
"""

from __future__ import annotations

import asyncio

__all__ = ["Pacer"]


class Pacer:
    """`await pacer.wait(s)` is False once the watched client has left."""

    __slots__ = ("_due", "_gone", "_loop", "_quantum")

    def __init__(self, gone: asyncio.Event | None, quantum_s: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._due = self._loop.time()
        self._gone = gone
        self._quantum = quantum_s

    async def wait(self, seconds: float) -> bool:
        """Advance the deadline by `seconds`; sleep once it is `quantum` ahead of now."""
        self._due += seconds
        if self._gone is not None and self._gone.is_set():
            return False
        delay = self._due - self._loop.time()
        if delay < self._quantum:
            return True
        return await self._sleep(delay)

    async def flush(self) -> bool:
        """Sleep whatever is still owed (the end of a generation)."""
        delay = self._due - self._loop.time()
        if self._gone is not None and self._gone.is_set():
            return False
        return await self._sleep(delay) if delay > 0 else True

    async def _sleep(self, delay: float) -> bool:
        if self._gone is None:
            await asyncio.sleep(delay)
            return True
        try:
            await asyncio.wait_for(self._gone.wait(), delay)
        except TimeoutError:
            return True
        return False
