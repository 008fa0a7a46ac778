"""Counters behind `GET /stats`."""

from __future__ import annotations

from collections import Counter
from typing import Any

__all__ = ["Stats"]


class Stats:
    """Chat-completion counts; the event loop's thread is the only writer."""

    __slots__ = (
        "abandoned",
        "abandoned_finished",
        "by_kind",
        "by_status",
        "completion_tokens",
        "concurrency",
        "faults",
        "peak_concurrency",
        "peak_processing",
        "peak_queued",
        "preempted",
        "processing",
        "prompt_tokens",
        "queued",
        "response_formats",
        "since",
        "streamed",
        "truncated",
    )

    def __init__(self, now: float) -> None:
        self.concurrency = 0
        self.processing = 0
        self.queued = 0
        self.reset(now)

    def reset(self, now: float) -> None:
        self.since = now
        self.by_status: Counter[int] = Counter()
        self.by_kind: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.response_formats: Counter[str] = Counter()
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.abandoned = 0
        self.abandoned_finished = 0
        self.streamed = 0
        self.preempted = 0
        self.truncated = 0
        self.peak_concurrency = self.concurrency
        self.peak_processing = self.processing
        self.peak_queued = self.queued

    def enter(self) -> None:
        self.concurrency += 1
        self.peak_concurrency = max(self.peak_concurrency, self.concurrency)

    def leave(self) -> None:
        self.concurrency -= 1

    def start_processing(self) -> None:
        self.processing += 1
        self.peak_processing = max(self.peak_processing, self.processing)

    def stop_processing(self) -> None:
        self.processing -= 1

    def set_queued(self, waiting: int) -> None:
        """Requests accepted but waiting for a slot (the gate reports every change)."""
        self.queued = waiting
        self.peak_queued = max(self.peak_queued, waiting)

    def snapshot(self, now: float, extra: dict[str, Any]) -> dict[str, Any]:
        return {
            "requests": sum(self.by_status.values()),
            "completed": self.by_status.get(200, 0),
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "by_kind": dict(sorted(self.by_kind.items())),
            "faults": dict(sorted(self.faults.items())),
            "response_formats": dict(sorted(self.response_formats.items())),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "concurrency": self.concurrency,
            "peak_concurrency": self.peak_concurrency,
            "processing": self.processing,
            "peak_processing": self.peak_processing,
            "queued": self.queued,
            "peak_queued": self.peak_queued,
            "streamed": self.streamed,
            "preempted": self.preempted,
            "truncated": self.truncated,
            "abandoned": self.abandoned,
            "abandoned_finished": self.abandoned_finished,
            "seconds": round(now - self.since, 3),
            **extra,
        }
