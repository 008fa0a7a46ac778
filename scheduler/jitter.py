"""Telling a queue from jitter: a drain that did not lower latency drained no queue.

The delivery law reads a queue from latency above the lowest seen for the same kind of
request. A server whose latency varies on its own (a hosted API's replies of one size take
2 s one time and 4 s the next) sits above that lowest value all the time: its mean is
`mean / min` (the jitter) above it, at any load. Read as a queue, every drain cut the limit
to the delivered rate x the lowest latency, which is the server's parallelism divided by
the jitter, and the next inflated sample cut it again: slow calls at a roomy server
collapsed to a few in flight (the law's model: 2-4 s calls at 151 x the bound, 6 in flight).

So each drain is an experiment. Requests sent after it run at the lower level; once enough
of them are back, the mean of their latency ratios says what happened. A queue's drain
brings them down to about 1; jitter leaves them where they were. In the second case that
mean is the jitter: the law restores the level it drained from and from then on reads a
queue only above `tolerance x jitter`, and scales the lowest latency by the jitter where it
needs the typical unloaded one (the bdp). Each trial that finds jitter measures it again
(the lowest latency seen only falls, so the ratio of a steady server drifts up); it is
capped at `JITTER_MAX`: latency three times its lowest is a queue, whatever the server says.
"""

from collections import deque
from dataclasses import dataclass, field

__all__ = ["JITTER_MAX", "MIN_SAMPLES", "QUEUE_FALL", "DrainTrial", "RecentRatios"]

JITTER_MAX = 3.0
QUEUE_FALL = 0.85  # latency after a drain below this x before it: the drain emptied a queue
MIN_SAMPLES = 4  # latency ratios that say something: fewer know no unloaded latency yet
_RECENT = 16


class RecentRatios:
    """The last few latency ratios per signal (whole latency, time to first token)."""

    __slots__ = ("_by_signal",)

    def __init__(self) -> None:
        self._by_signal: tuple[deque[tuple[float, float]], deque[tuple[float, float]]] = (
            deque(maxlen=_RECENT),
            deque(maxlen=_RECENT),
        )

    def add(self, ttft: bool, sent_at: float, ratio: float) -> None:
        self._by_signal[ttft].append((sent_at, ratio))

    def seen(self, ttft: bool) -> int:
        """How many there are (at most the last 16)."""
        return len(self._by_signal[ttft])

    def last(self, ttft: bool) -> float | None:
        """The latest one (None without any)."""
        ratios = self._by_signal[ttft]
        return ratios[-1][1] if ratios else None

    def mean(self, ttft: bool, since: float) -> float | None:
        """The mean of those sent at or after `since` (the level a drain leaves), or None
        with fewer than two: what the law saw before a drain."""
        ratios = [r for sent_at, r in self._by_signal[ttft] if sent_at >= since]
        return sum(ratios) / len(ratios) if len(ratios) >= 2 else None


@dataclass(slots=True)
class DrainTrial:
    """The requests sent after one drain: their mean latency ratio, per signal."""

    since: float  # when the drain happened: samples of requests sent before are old news
    level: float  # the window it drained from, restored if it drained no queue
    starting: bool  # ... and whether fast start was on
    ttft: bool  # the signal that drained: time to first token (True) or whole latency
    before: float | None  # ... and its recent mean before the drain
    need: int  # samples of that signal that decide (one round at the drained level)
    below_capacity: bool  # whether the drained level is surely not above the capacity
    _sums: list[float] = field(default_factory=lambda: [0.0, 0.0])
    _counts: list[int] = field(default_factory=lambda: [0, 0])

    @classmethod
    def after(
        cls,
        now: float,
        level: float,
        starting: bool,
        ttft: bool,
        before: float | None,
        drained_to: float,
        below_capacity: bool,
    ) -> "DrainTrial":
        """A trial of the drain at `now` from `level` to `drained_to`."""
        need = max(MIN_SAMPLES, int(drained_to))
        return cls(now, level, starting, ttft, before, need, below_capacity)

    def add(self, ttft: bool, sent_at: float, ratio: float) -> None:
        """One latency ratio (over the expected unloaded value) of a request sent at `sent_at`."""
        if sent_at >= self.since:
            self._sums[ttft] += ratio
            self._counts[ttft] += 1

    @property
    def decided(self) -> bool:
        """Whether enough requests sent after the drain are back to judge it.

        Also once twice as many of the other signal are: should the one that drained stop
        coming (first tokens from a server that stopped streaming), the trial, which holds
        the limit while it runs, must still end. Without its signal it reads as a queue.
        """
        other = self._counts[not self.ttft]
        return self._counts[self.ttft] >= self.need or other >= 2 * self.need

    def mean(self, ttft: bool) -> float | None:
        """Mean ratio of one signal's samples so far (None without any)."""
        n = self._counts[ttft]
        return self._sums[ttft] / n if n else None
