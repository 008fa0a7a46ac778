"""Observer seam: the scheduler reports events here and never imports a metrics library."""

from collections.abc import Iterable
from typing import Protocol

from scheduler.verdict import Verdict

__all__ = ["MultiObserver", "NullObserver", "Observer"]


class Observer(Protocol):
    """Receives scheduler events; see `NullObserver` for a no-op base."""

    def on_limit_change(self, name: str, old: int, new: int, reason: str) -> None:
        """A limit changed (reason: slow_start, increase, decrease, brake, clamp)."""

    def on_gate(self, name: str, closed: bool, wait_s: float) -> None:
        """The cool-down gate closed for `wait_s` (closed=True) or reopened."""

    def on_dispatch(self, stage: str, inflight: int) -> None:
        """A request got its slots; `inflight` counts this stage after acquiring."""

    def on_complete(self, stage: str, verdict: Verdict, latency_s: float, inflight: int) -> None:
        """One attempt finished; `inflight` counts this stage after releasing."""

    def on_retry(self, stage: str, attempt: int, reason: str, wait_s: float) -> None:
        """Attempt `attempt` failed with `reason`; the next starts in `wait_s`."""

    def on_wait(self, stage: str, cause: str, seconds: float) -> None:
        """Time spent waiting, cause in {"cooldown", "pacing", "slot"}."""


class NullObserver:
    """Ignores every event; subclass it and override what you care about."""

    def on_limit_change(self, name: str, old: int, new: int, reason: str) -> None:
        """A limit changed."""

    def on_gate(self, name: str, closed: bool, wait_s: float) -> None:
        """The cool-down gate closed for `wait_s` or reopened."""

    def on_dispatch(self, stage: str, inflight: int) -> None:
        """A request got its slots."""

    def on_complete(self, stage: str, verdict: Verdict, latency_s: float, inflight: int) -> None:
        """One attempt finished."""

    def on_retry(self, stage: str, attempt: int, reason: str, wait_s: float) -> None:
        """Attempt `attempt` failed with `reason`; the next one starts in `wait_s`."""

    def on_wait(self, stage: str, cause: str, seconds: float) -> None:
        """Time spent waiting for `cause` in {"cooldown", "pacing", "slot"}."""


class MultiObserver:
    """Fans every event out to several observers."""

    __slots__ = ("_observers",)

    def __init__(self, observers: Iterable[Observer]) -> None:
        self._observers = tuple(observers)

    def on_limit_change(self, name: str, old: int, new: int, reason: str) -> None:
        for o in self._observers:
            o.on_limit_change(name, old, new, reason)

    def on_gate(self, name: str, closed: bool, wait_s: float) -> None:
        for o in self._observers:
            o.on_gate(name, closed, wait_s)

    def on_dispatch(self, stage: str, inflight: int) -> None:
        for o in self._observers:
            o.on_dispatch(stage, inflight)

    def on_complete(self, stage: str, verdict: Verdict, latency_s: float, inflight: int) -> None:
        for o in self._observers:
            o.on_complete(stage, verdict, latency_s, inflight)

    def on_retry(self, stage: str, attempt: int, reason: str, wait_s: float) -> None:
        for o in self._observers:
            o.on_retry(stage, attempt, reason, wait_s)

    def on_wait(self, stage: str, cause: str, seconds: float) -> None:
        for o in self._observers:
            o.on_wait(stage, cause, seconds)
