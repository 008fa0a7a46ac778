"""Concurrency limits: pure, synchronous control laws fed one `Sample` per completed request.

AIMD control law (after Netflix concurrency-limits), with `L` the current limit:

* Window: a window ends after `L` successful completions since the last change of `L`.
  Growth happens at most once per window, so one window is roughly one round trip at `L`.
* Slow start: until the first drop, each full window doubles `L`, and past 32 multiplies it
  by 1.5 (RFC 3742's limited slow start: a doubling past the knee builds a queue as large as
  everything in flight, before the latency brake can see it).
* Additive increase: after the first drop, each full window adds `increase` to `L`.
* Multiplicative decrease: a drop (429, 503, timeout) sets `L = floor(L * backoff)`.
  At most one cut per overshoot: a drop from a request *sent* before the last cut
  (`sent_at = now - latency_s < last_cut_at`) is the same signal and is ignored.
* App-limited guard: a window that ends while `inflight < L / 2` does not grow `L`;
  a stage that cannot fill its slots says nothing about the server's capacity.
* Latency brake (optional): normalised latency is `latency_s / max(output_tokens, 1)`,
  because raw latency mostly measures output length. The brake keeps a fast EWMA of it
  (weight `smoothing`) and a baseline, the lowest EWMA seen once `min_samples` arrived.
  While `ewma > tolerance * baseline` a full window does not grow `L`, and slow start ends
  at the first such sample (HyStart's idea: rising latency means a queue is building before
  any drop, and waiting for the window would let it double once more). Either sets
  `L = floor(L * backoff) - step` (reported as "brake"); the defaults (`backoff = 1`,
  `step = 0`) only hold, since drops already cut and output-length mix shifts the measure.
  `backoff < 1` walks a limit that slow start doubled past the knee back to it, so the
  queue (and the 429s of everything queued when a rate limit runs dry) stays short. Like a
  drop, a brake cut counts once per overshoot: a sample sent before the last cut holds.
* Clamp: `L` stays in `[minimum, maximum]`.

Defaults: initial 4, minimum 1, maximum 256, backoff 0.5, increase 1; brake tolerance 2.0,
smoothing 0.1, min_samples 20, backoff 1.0, step 0 (conf/scheduler/adaptive.yaml sets brake
tolerance 1.5 and brake backoff 0.9).
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "LIMIT_REASONS",
    "AIMDLimit",
    "FixedLimit",
    "LatencyBrake",
    "Limit",
    "LimitBase",
    "LimitListener",
    "Sample",
]

LimitListener = Callable[[int, int, str], None]

# Every reason a limit here reports to its listeners (a bounded label for metrics).
LIMIT_REASONS = (
    *("slow_start", "increase", "decrease", "brake", "clamp"),  # AIMDLimit, and the clamp
    *("fast_start", "queue", "jitter", "probe", "listen"),  # DeliveryLimit's own
)


@dataclass(frozen=True, slots=True)
class Sample:
    """One completed request: when, how long, how busy (itself included), whether dropped.

    `inflight` counts requests in flight when this one was sent (itself included); `others`
    those still in flight when it finished (itself excluded), None when unknown.
    """

    now: float
    latency_s: float
    inflight: int
    dropped: bool
    output_tokens: int = 0
    stage: str = ""
    ttft_s: float | None = None
    input_tokens: int = 0
    others: int | None = None


class Limit(Protocol):
    """A concurrency limit updated from samples."""

    @property
    def limit(self) -> int: ...

    def update(self, sample: Sample) -> int: ...


class LimitBase:
    """Bookkeeping shared by limits: clamping and change listeners."""

    def __init__(
        self, initial: int, minimum: int, maximum: int, on_change: LimitListener | None = None
    ) -> None:
        if not 1 <= minimum <= maximum:
            raise ValueError(f"need 1 <= minimum <= maximum, got {minimum}, {maximum}")
        self.minimum, self.maximum = minimum, maximum
        self._limit = min(max(initial, minimum), maximum)
        self._listeners: list[LimitListener] = [on_change] if on_change else []

    @property
    def limit(self) -> int:
        """Current limit."""
        return self._limit

    def subscribe(self, listener: LimitListener) -> None:
        """Call `listener(old, new, reason)` on every change."""
        self._listeners.append(listener)

    def update(self, sample: Sample) -> int:
        """Feed one sample; return the new limit."""
        return self._limit

    def _set(self, wanted: int, reason: str) -> int:
        new = min(max(wanted, self.minimum), self.maximum)
        old, self._limit = self._limit, new
        if new != old:
            for listener in self._listeners:
                listener(old, new, "clamp" if new != wanted else reason)
        return new


class FixedLimit(LimitBase):
    """A limit that never changes."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit, limit, limit)


class LatencyBrake:
    """Says "stop growing" when normalised latency rises `tolerance` times above its baseline."""

    def __init__(
        self,
        tolerance: float = 2.0,
        smoothing: float = 0.1,
        min_samples: int = 20,
        step: int = 0,
        backoff: float = 1.0,
    ) -> None:
        if not 0 < backoff <= 1:
            raise ValueError(f"brake backoff must be in (0, 1], got {backoff}")
        self.tolerance, self.smoothing, self.min_samples = tolerance, smoothing, min_samples
        self.step, self.backoff = step, backoff
        self._ewma: float | None = None
        self._baseline = math.inf
        self._count = 0

    def observe(self, latency_s: float, output_tokens: int) -> None:
        """Record the latency of one successful request."""
        x = latency_s / max(output_tokens, 1)
        self._ewma = x if self._ewma is None else self._ewma + self.smoothing * (x - self._ewma)
        self._count += 1
        if self._count >= self.min_samples:
            self._baseline = min(self._baseline, self._ewma)

    @property
    def inflated(self) -> bool:
        """Whether recent normalised latency exceeds `tolerance` x baseline."""
        if self._ewma is None or self._count <= self.min_samples:
            return False
        return self._ewma > self.tolerance * self._baseline


class AIMDLimit(LimitBase):
    """Windowed AIMD with slow start, one cut per overshoot and an app-limited guard."""

    def __init__(
        self,
        initial: int = 4,
        minimum: int = 1,
        maximum: int = 256,
        backoff: float = 0.5,
        increase: int = 1,
        slow_start: bool = True,
        brake: LatencyBrake | None = None,
        *,
        on_change: LimitListener | None = None,
    ) -> None:
        if not 0 < backoff < 1:
            raise ValueError(f"backoff must be in (0, 1), got {backoff}")
        super().__init__(initial, minimum, maximum, on_change)
        self.backoff, self.increase, self.brake = backoff, increase, brake
        self._slow_start = slow_start
        self._completed = 0
        self._last_cut_at = -math.inf

    def update(self, sample: Sample) -> int:
        """Feed one sample; return the new limit."""
        if sample.dropped:
            return self._on_drop(sample)
        if self.brake is not None:
            self.brake.observe(sample.latency_s, sample.output_tokens)
        self._completed += 1
        if self._slow_start and self.brake is not None and self.brake.inflated:
            return self._brake(sample)  # leave slow start at once, not a doubled window later
        if self._completed < self._limit:
            return self._limit
        self._completed = 0  # window over, whatever we decide
        if 2 * sample.inflight < self._limit:
            return self._limit
        if self.brake is not None and self.brake.inflated:
            return self._brake(sample)
        if self._slow_start:  # doubling, then x1.5 past 32 (RFC 3742's limited slow start)
            grown = 2 * self._limit if self._limit < 32 else self._limit * 3 // 2
            return self._set(grown, "slow_start")
        return self._set(self._limit + self.increase, "increase")

    def _brake(self, sample: Sample) -> int:
        assert self.brake is not None
        self._slow_start, self._completed = False, 0
        if sample.now - sample.latency_s < self._last_cut_at:
            return self._limit  # queued before the last cut: its latency is that cut's news
        self._last_cut_at = sample.now
        return self._set(math.floor(self._limit * self.brake.backoff) - self.brake.step, "brake")

    def _on_drop(self, sample: Sample) -> int:
        if sample.now - sample.latency_s < self._last_cut_at:
            return self._limit  # same overshoot as the last cut
        self._last_cut_at = sample.now
        self._slow_start = False
        self._completed = 0
        return self._set(math.floor(self._limit * self.backoff), "decrease")
