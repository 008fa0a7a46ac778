"""The attempt running now: code inside a lane attempt reports its first token through here.

A lane sets a context variable around each attempt's `fn()`, so a streaming client deep in
the call stack can say "the first token arrived" without being handed anything. The time is
read on the governor's injected clock and fed to the control law at once, while the call is
still running: time to first token is the cleanest queue signal there is (a queued request
has no first token), and it lets fast start grow on slow calls before any of them finish.
"""

from collections.abc import Callable
from contextvars import ContextVar

from scheduler.clock import Clock

__all__ = ["AttemptClock", "current_attempt", "mark_first_token"]


class AttemptClock:
    """One attempt's start and first-token time on an injected clock."""

    __slots__ = ("_clock", "_on_first_token", "started_at", "ttft_s")

    def __init__(
        self, clock: Clock, on_first_token: Callable[["AttemptClock"], None] | None = None
    ) -> None:
        self._clock = clock
        self._on_first_token = on_first_token
        self.started_at = clock()
        self.ttft_s: float | None = None

    def first_token(self) -> None:
        """Record the first token (later calls are ignored) and tell the listener once."""
        if self.ttft_s is not None:
            return
        self.ttft_s = max(0.0, self._clock() - self.started_at)
        if self._on_first_token is not None:
            self._on_first_token(self)


_current: ContextVar[AttemptClock | None] = ContextVar("scheduler_attempt", default=None)


def current_attempt() -> ContextVar[AttemptClock | None]:
    """The context variable a lane sets around `fn()` (exposed for lanes and tests)."""
    return _current


def mark_first_token() -> None:
    """Inside a lane attempt: the first token arrived now. Outside one: does nothing.

    Call it from a streaming client when the first content chunk arrives; calling it again
    in the same attempt is harmless. It is cheap (one context-variable read).
    """
    attempt = _current.get()
    if attempt is not None:
        attempt.first_token()
