"""Injected time: every scheduler class reads a `Clock` and sleeps through a `Sleep`."""

from collections.abc import Awaitable, Callable

__all__ = ["Clock", "Sleep"]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
