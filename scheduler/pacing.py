"""Rate pacing (requests and tokens per minute) on aiolimiter buckets read through a clock.

Three sources set a rate; the lowest wins: a configured cap, a limit the server states in
`x-ratelimit-*` headers, and a rate learned from 429s (`RateLearner`). When the server also
states how much is left (`remaining`), the local bucket is synced to it (`observe`), so a
client spends the server's burst but never more, and sees other clients' use of a shared quota.
Callers wait in FIFO order behind one lock, so a queue of a thousand requests costs one timer.
"""

import asyncio
import math
from collections import deque
from typing import cast

from aiolimiter import AsyncLimiter

from scheduler.clock import Clock, Sleep

__all__ = ["Pacer", "RateLearner"]

_MIN_RATE = 1 / 60  # requests per second: one a minute


class _ClockTime:
    """The one loop method AsyncLimiter needs when it never has to block: `time()`."""

    __slots__ = ("time",)

    def __init__(self, clock: Clock) -> None:
        self.time = clock


class _Bucket(AsyncLimiter):
    """AsyncLimiter on an injected clock: `rate_per_min` refill, `max_rate` burst."""

    __slots__ = ("_clock_loop", "rate_per_min")

    def __init__(self, rate_per_min: float, burst: float, clock: Clock) -> None:
        self._clock_loop = cast(asyncio.AbstractEventLoop, _ClockTime(clock))
        self.rate_per_min = rate_per_min
        super().__init__(burst, burst * 60.0 / rate_per_min)

    @property
    def _loop(self) -> asyncio.AbstractEventLoop:
        return self._clock_loop

    def retarget(self, rate_per_min: float, burst: float) -> None:
        """Change rate and burst, keeping what was used."""
        self._leak()
        self.rate_per_min, self.max_rate = rate_per_min, burst
        self._rate_per_sec = rate_per_min / 60.0
        self.time_period = burst / self._rate_per_sec
        self._level = min(self._level, burst)

    def wait_s(self, amount: float) -> float:
        """Seconds until `amount` fits in the bucket."""
        self._leak()
        return max(
            0.0, (self._level + min(amount, self.max_rate) - self.max_rate) / self._rate_per_sec
        )

    def take(self, amount: float) -> None:
        self._leak()
        self._level += min(amount, self.max_rate)

    def sync(self, used: float) -> None:
        """The server says `used` of the burst is spent; believe it when it is more than ours."""
        self._leak()
        self._level = max(self._level, min(used, self.max_rate))


class Pacer:
    """Paces requests (rpm) and tokens (tpm); `configure` swaps rates when they change.

    `burst_s`: seconds of rate a configured or stated limit may spend at once while the
    server states no `remaining` (60 s = aiolimiter's whole period, the historical default).
    """

    __slots__ = (
        "_burst",
        "_clock",
        "_learned",
        "_lock",
        "_requests",
        "_sleep",
        "_stated",
        "_tokens",
        "burst_s",
        "epoch",
    )

    def __init__(
        self,
        clock: Clock,
        sleep: Sleep,
        rpm: float | None = None,
        tpm: float | None = None,
        *,
        burst_s: float = 60.0,
    ) -> None:
        self._clock, self._sleep, self.burst_s = clock, sleep, burst_s
        self._requests: _Bucket | None = None
        self._tokens: _Bucket | None = None
        self._stated: tuple[float | None, float | None] = (None, None)
        self._learned: float | None = None
        self._burst: list[float | None] = [None, None]  # largest burst seen in `remaining`
        self._lock = asyncio.Lock()
        self.epoch = 0  # bumped when a rate drops: requests paced before must be paced again
        self.configure(rpm, tpm)

    @property
    def rpm(self) -> float | None:
        """Requests per minute, or None when unpaced."""
        return self._requests.rate_per_min if self._requests else None

    @property
    def tpm(self) -> float | None:
        """Tokens per minute, or None when unpaced."""
        return self._tokens.rate_per_min if self._tokens else None

    @property
    def stated(self) -> tuple[float | None, float | None]:
        """The configured or stated (rpm, tpm), before any learned cap."""
        return self._stated

    @property
    def learned_rpm(self) -> float | None:
        """The rate learned from 429s, or None."""
        return self._learned

    def configure(self, rpm: float | None, tpm: float | None) -> bool:
        """Set the configured or stated rates; return whether anything changed."""
        changed = (rpm, tpm) != self._stated
        self._stated = (rpm, tpm)
        self._apply()
        return changed

    def learn(self, rpm: float | None) -> None:
        """Cap requests at a learned rate (None lifts the cap); starts with an empty burst."""
        fresh = self._learned is None and rpm is not None
        if rpm is not None and (self._learned is None or rpm < self._learned):
            self.epoch += 1
        self._learned = rpm
        self._apply()
        if fresh and self._requests is not None:
            self._requests.sync(self._requests.max_rate)

    def observe(self, remaining_requests: int | None, remaining_tokens: int | None) -> None:
        """Sync the buckets to what the server says is left."""
        for i, (bucket, remaining) in enumerate(
            ((self._requests, remaining_requests), (self._tokens, remaining_tokens))
        ):
            if remaining is None:
                continue
            seen = self._burst[i]
            if seen is None or remaining + 1 > seen:
                self._burst[i] = float(remaining + 1)
                self._apply()
                bucket = self._requests if i == 0 else self._tokens
            if bucket is not None:
                bucket.sync(bucket.max_rate - remaining)

    async def wait(self, tokens: int = 0) -> float:
        """Wait until one request of `tokens` fits both rates; return seconds waited."""
        if not self._lock.locked() and self._delay(tokens) <= 0:
            self._take(tokens)
            return 0.0
        start = self._clock()
        async with self._lock:  # FIFO: only the head of the queue sleeps on a timer
            while (delay := self._delay(tokens)) > 0:
                await self._sleep(delay)
            self._take(tokens)
        return self._clock() - start

    def _apply(self) -> None:
        rpm, tpm = self._stated
        if self._learned is not None:
            rpm = self._learned if rpm is None else min(rpm, self._learned)
        learned_burst = None
        if self._learned is not None and rpm == self._learned:
            learned_burst = max(1.0, rpm / 60.0)  # about one second's worth
        self._requests = self._bucket(self._requests, rpm, self._burst[0], learned_burst)
        self._tokens = self._bucket(self._tokens, tpm, self._burst[1], None)

    def _bucket(
        self, bucket: _Bucket | None, rate: float | None, seen: float | None, cap: float | None
    ) -> _Bucket | None:
        if not rate:
            return None
        burst = seen if seen is not None else max(1.0, rate * self.burst_s / 60.0)
        if cap is not None:
            burst = min(burst, cap)
        if bucket is None:
            return _Bucket(rate, burst, self._clock)
        if (bucket.rate_per_min, bucket.max_rate) != (rate, burst):
            bucket.retarget(rate, burst)
        return bucket

    def _delay(self, tokens: int) -> float:
        delay = self._requests.wait_s(1.0) if self._requests is not None else 0.0
        if self._tokens is not None and tokens > 0:
            delay = max(delay, self._tokens.wait_s(float(tokens)))
        return delay

    def _take(self, tokens: int) -> None:
        if self._requests is not None:
            self._requests.take(1.0)
        if self._tokens is not None and tokens > 0:
            self._tokens.take(float(tokens))


class RateLearner:
    """Learns the request rate a server accepts from its 429s: pure, fed times by the caller.

    Unset until the first 429 (concurrency alone governs until then). The first 429 sets the
    rate to the success rate (by send time) of the last `samples` successes before it; from
    then on `measured` is the success rate of the last `samples` successes sent after it,
    i.e. what a shedding server takes (its true rate, when we send faster).

    A 429 for a request sent before the last change is the same overshoot: ignored. Any
    other 429 sets `rate = min(rate, max(rate * backoff, floor * measured))` once `measured`
    has `min_samples` successes; before that, only `2 * min_samples` fresh 429s in a row cut
    (by `backoff`), since 429s come back faster than successes and would bias a count.
    Every `window` successes (sent after the last change) add `fast_increase` x rate while
    the rate is below 0.9 x `target` (the `measured` rate at the last cut), else `increase`
    x rate: a slow probe, so the server's refill is not left unused and a freed quota is
    found again.

    Defaults: backoff 0.5, floor 0.85, increase 0.02, fast_increase 0.1, window 10,
    samples 30, min_samples 5.
    """

    __slots__ = (
        "_changed_at",
        "_fresh_429s",
        "_since_change",
        "_successes",
        "_throttled_at",
        "backoff",
        "fast_increase",
        "floor",
        "increase",
        "min_samples",
        "rate",
        "target",
        "window",
    )

    def __init__(
        self,
        backoff: float = 0.5,
        floor: float = 0.85,
        increase: float = 0.02,
        window: int = 10,
        samples: int = 30,
        min_samples: int = 5,
        fast_increase: float = 0.1,
    ) -> None:
        self.fast_increase = fast_increase
        self.target: float | None = None  # `measured` at the last cut: the server's rate
        self.backoff, self.floor, self.increase, self.window = backoff, floor, increase, window
        self.min_samples = min_samples
        self.rate: float | None = None  # requests per second
        self._successes: deque[float] = deque(maxlen=samples)  # send times
        self._changed_at = -math.inf
        self._throttled_at: float | None = None
        self._since_change = 0
        self._fresh_429s = 0

    def on_success(self, sent_at: float) -> float | None:
        """One request sent at `sent_at` succeeded; return the rate (None = unlearned)."""
        if self._throttled_at is None or sent_at >= self._throttled_at:
            self._successes.append(sent_at)
        if sent_at >= self._changed_at:
            self._fresh_429s = 0
        if self.rate is None or sent_at < self._changed_at:
            return self.rate
        self._since_change += 1
        if self._since_change >= self.window:
            self._since_change = 0
            far = self.target is not None and self.rate < 0.9 * self.target
            self.rate *= 1 + (self.fast_increase if far else self.increase)
        return self.rate

    def on_throttle(self, sent_at: float, now: float) -> float | None:
        """A request sent at `sent_at` got a 429 at `now`; return the new rate."""
        if self.rate is None:
            measured = self._measured(now)
            self._throttled_at = now
            self._successes.clear()  # from now on, measure only what a shedding server takes
            if measured is not None:
                self._change(measured, now)
            return self.rate
        if sent_at < self._changed_at:
            return self.rate  # sent before the last change: the same overshoot
        self._fresh_429s += 1
        measured = self._measured(now)
        if measured is not None:
            self.target = measured
            new = max(self.rate * self.backoff, self.floor * measured)
        elif self._fresh_429s >= 2 * self.min_samples:
            new = self.rate * self.backoff
        else:
            return self.rate
        self._change(max(min(new, self.rate), _MIN_RATE), now)
        return self.rate

    def _change(self, rate: float, now: float) -> None:
        self.rate, self._changed_at, self._since_change, self._fresh_429s = rate, now, 0, 0

    def _measured(self, now: float) -> float | None:
        if len(self._successes) < self.min_samples:
            return None
        span = now - self._successes[0]
        return (len(self._successes) - 1) / span if span > 0 else None
