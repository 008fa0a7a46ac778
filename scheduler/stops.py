"""When an endpoint cannot serve the run: a circuit breaker, and the two reasons to stop.

Refusals never fail an item; these are the only ways a live run stops on the endpoint's
account. Both raise out of every lane call, so the run stops with one line, at once, instead
of trickling on losing items.
"""

import math

__all__ = ["QUOTA_SPENT", "UNAVAILABLE", "Breaker", "EndpointDown", "EndpointStop", "WaitTooLong"]


class EndpointStop(Exception):
    """The endpoint cannot serve this run now; `name` is the endpoint."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


class EndpointDown(EndpointStop):
    """The circuit breaker opened: nothing but failures for a while."""

    def __init__(self, name: str, failures: int, seconds: float, last: str) -> None:
        super().__init__(
            name,
            f"endpoint {name} looks down: {failures} failed attempts and no success in "
            f"{seconds:.0f} s (last: {last})",
        )
        self.failures, self.seconds, self.last = failures, seconds, last


QUOTA_SPENT = "the quota looks exhausted"  # a 429's long wait, or a spent limit's reset
UNAVAILABLE = "the server says it is unavailable that long"  # a 503's or 529's


class WaitTooLong(EndpointStop):
    """The server asked for a wait longer than the run may wait (quota exhausted, down)."""

    def __init__(
        self, name: str, wait_s: float, max_wait_s: float, source: str, why: str = QUOTA_SPENT
    ) -> None:
        super().__init__(
            name,
            f"endpoint {name} asked to wait {wait_s:.0f} s ({source}), more than "
            f"scheduler.max_wait_s={max_wait_s:g}: stopping, {why}",
        )
        self.wait_s, self.max_wait_s, self.source = wait_s, max_wait_s, source


class Breaker:
    """Opens after at least `failures` consecutive failed attempts spanning `seconds` with
    no success in between (counted from the last success, or the first failure). Pure: the
    caller passes the time. Defaults: 30 failures, 60 s.
    """

    __slots__ = ("_since", "failures", "last", "run", "seconds")

    def __init__(self, failures: int = 30, seconds: float = 60.0) -> None:
        if failures < 1 or seconds < 0:
            raise ValueError(f"need failures >= 1 and seconds >= 0, got {failures}, {seconds}")
        self.failures, self.seconds = failures, seconds
        self.run = 0  # consecutive failures
        self.last = ""
        self._since = math.inf  # the last success, or the first failure of the run

    def success(self, now: float) -> None:
        """One attempt succeeded."""
        self.run, self._since = 0, now

    def failure(self, now: float, reason: str) -> None:
        """One attempt failed (refused, timed out, 5xx, unreachable)."""
        if self.run == 0 and self._since == math.inf:
            self._since = now
        self.run += 1
        self.last = reason

    def open(self, now: float) -> bool:
        """Whether the endpoint counts as dead now."""
        return self.run >= self.failures and now - self._since >= self.seconds

    def down_for(self, now: float) -> float:
        """Seconds since the last success (or the first failure)."""
        return 0.0 if self._since == math.inf else now - self._since
