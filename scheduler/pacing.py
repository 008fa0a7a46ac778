"""Rate pacing (requests and tokens per minute) on token buckets.

Three sources set a rate; the lowest wins: a configured cap, a limit the server states in
`x-ratelimit-*` headers, and a rate learned from refusals (`RateLearner`). When the server also
states how much is left (`remaining`), the local bucket is synced to it (`observe`), so a
client spends the server's burst but never more, and sees other clients' use of a shared quota.
Callers wait in FIFO order behind one lock, so a queue of a thousand requests costs one timer.
A learned rate gets a burst of one request: the lane paces each send after it has its slots,
so sends leave spaced at the pace. A server bucket of one request (nginx's `limit_req`
without `burst`) refuses any two closer than 1/R, and a tenth of a second's burst let six
leave at once whenever replies freed slots together.

Two bucket kinds, one interface (`wait_s`, `take`, `sync`, `rate_per_min`, `max_rate`):

* `LimiterBucket` is aiolimiter's `AsyncLimiter` used through its public API only: one
  limiter per rate (a changed rate builds a new one, which starts with no burst), its own
  `has_capacity` and `acquire`. It runs on the event loop's clock, so it is used when the
  pacer's clock is that clock (`time.monotonic`, the production default).
* `ClockBucket` exists only for what AsyncLimiter's public API cannot do: run on an injected
  clock (tests, simulations) and believe a server that says less is left than we think
  (`sync`). It is a plain leaky bucket of a dozen lines; the pacer switches a rate to it once
  the server states a `remaining` for that rate.
"""

import asyncio
import itertools
import math
import time
from collections import deque

from aiolimiter import AsyncLimiter

from scheduler.clock import Clock, Sleep

__all__ = ["ClockBucket", "LimiterBucket", "Pacer", "RateLearner"]

_MIN_RATE = 1 / 60  # requests per second: one a minute


class ClockBucket:
    """A leaky bucket on an injected clock that can be synced to a server's `remaining`."""

    __slots__ = ("_clock", "_level", "_seen", "max_rate", "rate_per_min")

    def __init__(self, rate_per_min: float, burst: float, clock: Clock, level: float = 0.0) -> None:
        self.rate_per_min, self.max_rate = rate_per_min, burst
        self._clock = clock
        self._level = min(level, burst)
        self._seen = clock()

    def _leak(self) -> None:
        now = self._clock()
        self._level = max(0.0, self._level - (now - self._seen) * self.rate_per_min / 60.0)
        self._seen = now

    def wait_s(self, amount: float) -> float:
        self._leak()
        over = self._level + min(amount, self.max_rate) - self.max_rate
        # A rounding residue is not a wait: sleeping 1e-17 s on a clock that cannot advance
        # by that much would never drain it (a livelock on a fake clock).
        return 0.0 if over <= 1e-9 else over * 60.0 / self.rate_per_min

    async def take(self, amount: float) -> None:
        self._leak()
        self._level += min(amount, self.max_rate)

    def sync(self, used: float) -> None:
        """The server says `used` of the burst is spent; believe it when it is more than ours."""
        self._leak()
        self._level = max(self._level, min(used, self.max_rate))

    @property
    def used(self) -> float:
        """How much of the burst is spent now."""
        self._leak()
        return self._level


class LimiterBucket:
    """aiolimiter's AsyncLimiter through its public API: `has_capacity` and `acquire`."""

    __slots__ = ("_debt", "limiter", "max_rate", "rate_per_min")

    def __init__(self, rate_per_min: float, burst: float, *, fresh: bool = True) -> None:
        self.rate_per_min, self.max_rate = rate_per_min, burst
        self.limiter = AsyncLimiter(burst, burst * 60.0 / rate_per_min)
        # A limiter replacing another (the rate changed) starts spent: no clump at the change.
        self._debt = 0.0 if fresh else burst

    def wait_s(self, amount: float) -> float:
        if self._debt or not self.limiter.has_capacity(min(amount, self.max_rate)):
            return 60.0 / self.rate_per_min  # a hint: `take` does the exact wait
        return 0.0

    async def take(self, amount: float) -> None:
        if self._debt:
            debt, self._debt = self._debt, 0.0
            await self.limiter.acquire(debt)
        await self.limiter.acquire(min(amount, self.max_rate))


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
        "_on_loop",
        "_requests",
        "_sleep",
        "_stated",
        "_synced",
        "_tokens",
        "burst_s",
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
        # AsyncLimiter reads the event loop's clock, which is time.monotonic; any other
        # clock (a test's) must be served by ClockBucket.
        self._on_loop = clock is time.monotonic
        self._requests: ClockBucket | LimiterBucket | None = None
        self._tokens: ClockBucket | LimiterBucket | None = None
        self._stated: tuple[float | None, float | None] = (None, None)
        self._learned: float | None = None
        self._burst: list[float | None] = [None, None]  # largest burst seen in `remaining`
        self._synced = [False, False]  # the server states `remaining` for this rate
        self._lock = asyncio.Lock()
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
        """The rate learned from refusals, or None."""
        return self._learned

    def configure(self, rpm: float | None, tpm: float | None) -> bool:
        """Set the configured or stated rates; return whether anything changed."""
        changed = (rpm, tpm) != self._stated
        self._stated = (rpm, tpm)
        self._apply()
        return changed

    def learn(self, rpm: float | None) -> None:
        """Cap requests at a learned rate (None lifts the cap); starts with an empty burst.

        Only when the learned rate is what paces: one above the configured or stated rate
        leaves that rate's bucket as it was. Spent, a stated limit's burst (synced to the
        server's `remaining`, which only ever raises our count) stayed spent, and 900
        requests under RPM 3600 with 600 remaining were paced at 58/s: 3 x the bound.
        """
        fresh = self._learned is None and rpm is not None
        self._learned = rpm
        self._apply()
        if fresh and self._requests is not None and self._requests.rate_per_min == rpm:
            self._requests = _spent(self._requests, self._clock)

    def observe(self, remaining_requests: int | None, remaining_tokens: int | None) -> None:
        """Sync the buckets to what the server says is left."""
        for i, remaining in enumerate((remaining_requests, remaining_tokens)):
            if remaining is None or remaining < 0:  # -1: "unknown" (Azure), not "none left"
                continue
            seen = self._burst[i]
            if seen is None or remaining + 1 > seen or not self._synced[i]:
                self._burst[i] = max(float(remaining + 1), seen or 0.0)
                self._synced[i] = True
                self._apply()
            bucket = self._requests if i == 0 else self._tokens
            if isinstance(bucket, ClockBucket):
                bucket.sync(bucket.max_rate - remaining)

    async def wait(self, tokens: int = 0) -> float:
        """Wait until one request of `tokens` fits both rates; return seconds waited."""
        if not self._lock.locked() and self._delay(tokens) <= 0:
            await self._take(tokens)  # fits now: no bucket waits
            return 0.0
        start = self._clock()
        async with self._lock:  # FIFO: only the head of the queue waits on a timer
            while (delay := self._delay(tokens, clock_only=True)) > 0:
                await self._sleep(delay)
            await self._take(tokens)
        return self._clock() - start

    def _apply(self) -> None:
        rpm, tpm = self._stated
        if self._learned is not None:
            rpm = self._learned if rpm is None else min(rpm, self._learned)
        learned_burst = None
        if self._learned is not None and rpm == self._learned:
            learned_burst = 1.0  # one request: sends spaced at the pace, never a clump
        self._requests = self._bucket(0, self._requests, rpm, learned_burst)
        self._tokens = self._bucket(1, self._tokens, tpm, None)

    def _bucket(
        self, i: int, old: ClockBucket | LimiterBucket | None, rate: float | None, cap: float | None
    ) -> ClockBucket | LimiterBucket | None:
        if not rate:
            return None
        seen = self._burst[i]
        burst = seen if seen is not None else max(1.0, rate * self.burst_s / 60.0)
        if cap is not None:
            burst = min(burst, cap)
        on_loop = self._on_loop and not self._synced[i]
        same = old is not None and (old.rate_per_min, old.max_rate) == (rate, burst)
        if same and isinstance(old, LimiterBucket) == on_loop:
            return old
        if on_loop:
            return LimiterBucket(rate, burst, fresh=old is None)
        # From a limiter bucket only when the server began stating `remaining`: the sync that
        # follows sets the level, so start empty rather than spent.
        level = old.used if isinstance(old, ClockBucket) else 0.0
        return ClockBucket(rate, burst, self._clock, level)

    def _delay(self, tokens: int, *, clock_only: bool = False) -> float:
        delay = 0.0
        for bucket, amount in ((self._requests, 1.0), (self._tokens, float(tokens))):
            if bucket is None or amount <= 0:
                continue
            if clock_only and isinstance(bucket, LimiterBucket):
                continue  # its own `acquire` waits, in `_take`
            delay = max(delay, bucket.wait_s(amount))
        return delay

    async def _take(self, tokens: int) -> None:
        # Limiter buckets first: their `acquire` may wait, and clock buckets are spent last,
        # so a clock bucket is never charged for time spent waiting on another.
        pairs = [(self._requests, 1.0), (self._tokens, float(tokens))]
        for bucket, amount in sorted(pairs, key=lambda p: not isinstance(p[0], LimiterBucket)):
            if bucket is not None and amount > 0:
                await bucket.take(amount)


def _refill_rate(gaps: list[float], accepted: int) -> float | None:
    """The least R with `sum(min(g x R, 1) for g in gaps) >= accepted`, gaps ascending.

    Piecewise linear in R: with the `k` shortest gaps below 1/R, the sum is R x (their sum)
    + the other gaps' count; the first `k` for which that R keeps them below is the answer.
    """
    n = len(gaps)
    if accepted > n:
        return None
    short = 0.0
    for k in range(n + 1):
        if k:
            short += gaps[k - 1]
        if short <= 0:
            continue
        rate = (accepted - (n - k)) / short
        longest_short = gaps[k - 1]
        if rate * longest_short <= 1.0 and (k == n or rate * gaps[k] >= 1.0):
            return max(rate, 0.0)
    return None


def _spent(bucket: ClockBucket | LimiterBucket, clock: Clock) -> ClockBucket | LimiterBucket:
    """The same rate with its burst already spent."""
    if isinstance(bucket, ClockBucket):
        bucket.sync(bucket.max_rate)
        return bucket
    return LimiterBucket(bucket.rate_per_min, bucket.max_rate, fresh=False)


class RateLearner:
    """Learns the request rate a server accepts from its 429s: pure, fed times by the caller.

    Unset until the first 429 (concurrency alone governs until then).

    Estimate: a 429 means the server's bucket was empty when that request arrived. Between
    two such moments `a < b` the bucket refilled `R * (b - a)` and lost exactly what it
    accepted, so `R ~ successes accepted in (a, b] / (b - a)`, within one request, however
    large the bucket or bursty our sending (as long as it did not sit full in between). A
    429 comes back at once, so its completion time stands for its arrival; successes are
    counted by completion time, which shifts both ends by about one service time. `a` is
    the earliest 429 within `horizon_s` before `b` (the latest), and no earlier than one
    `lag` (the slowest recent success) after the first 429, so successes admitted before the
    bucket ran dry do not count; it needs `min_samples` successes in between. With a shared
    quota it measures this client's share.

    Hint: a token bucket's Retry-After is at most one refill interval `1/R`, so `1 / the
    largest of the last 32 Retry-Afters` approaches `R` from above. Before an estimate
    exists it floors the cuts, so halving does not undershoot far below the true rate.

    With sends reported (`on_send`, as the governor does), the estimate counts by send
    time: the requests sent between two refused ones and not refused took the tokens, so it
    is exact as soon as a few were accepted, without waiting a service time for successes.

    Every refusal should be reported (`on_refused`), also those the caller reads as its own
    concurrency's overshoot and does not hand to `on_throttle`: unreported, a refused send
    would count as accepted.

    Decrease: the first 429 sets `rate = floor x` the highest of the hint, the caller's
    delivery rate and what was sent and not refused in the last service time, but at most
    the storm's bound below once two refused sends are known (what a bucket's burst
    delivered is no measure of its refill); or `backoff` x the success rate of the last
    `samples` successes by send time, when none is known.
    A later 429 for a request sent before the last change, or within half a service time
    after it (at most `3 x period_s`), is the same overshoot: ignored (refusals come back in
    milliseconds; cutting per refusal would halve the pace several times before a single
    success at the new pace came back). Any other 429 sets `rate = min(rate, floor x
    estimate)` when there is an estimate, else `min(rate, max(rate x backoff, floor x
    hint))`, else (a storm: too few accepted to estimate) `min(rate x backoff, (accepted +
    1) / span)`, an upper bound that tightens as the storm goes on, else (one refusal, no
    estimate) `max(rate x backoff, floor x target)`; `target` keeps the estimate (or the
    rate the floor below put the cut at, when higher). After a
    probe step the pace before it held for a period at full use: no estimate-based cut goes
    below `floor x` the lower of that pace and `_strict_bound` (a bucket of one request
    makes the estimate read what we sent after any climb), and no storm's cut below the
    lower of that and the storm's bound.

    Increase (probe): a step needs `window` requests sent after the last change and taken
    (a success, or no refusal within twice the slowest recent refusal's time: a rate
    refuses at arrival, and calls of several seconds answer late), or what the pace sends
    in one period when fewer (at least 2), at most once per `period_s`, and only if the
    sends of that period kept up with the pace (`_pressing`: a pace raised while
    concurrency held the sends back runs away from what was sent). Near the last estimate
    (at or above 0.9 x `target`) it multiplies the rate by `1 + increase * 2**k`, where `k`
    counts the steps since the last cut, capped at `1 + fast_increase`: +2 %, +4 %, +8 %...
    every `window` requests. Below 0.9 x `target`, by `1 + fast_increase`. Before any
    estimate, by `1 + fast_increase * 2**k`, capped at `1 + max_increase`: +20 %, +40 %,
    +80 %, then doubling, since a first pace measured behind a concurrency limit can be a
    tenth of the rate. Near the last estimate the probe is gentle, so a cycle costs a few
    429s; a quota freed by another client is found again within seconds, not minutes.

    Defaults: backoff 0.5, floor 0.95, increase 0.02, fast_increase 0.2, window 10,
    period_s 0.5, samples 30, min_samples 5, horizon_s 5, max_increase 1.0.
    """

    __slots__ = (
        "_changed_at",
        "_fresh",
        "_lag",
        "_ok",
        "_refusal_s",
        "_refusals_reported",
        "_refused_sent",
        "_retry_afters",
        "_sent",
        "_settled_at",
        "_since_change",
        "_stepped_at",
        "_steps",
        "_successes",
        "_throttles",
        "_worked",
        "backoff",
        "fast_increase",
        "floor",
        "horizon_s",
        "increase",
        "max_increase",
        "min_samples",
        "period_s",
        "rate",
        "target",
        "window",
    )

    def __init__(
        self,
        backoff: float = 0.5,
        floor: float = 0.95,
        increase: float = 0.02,
        window: int = 10,
        samples: int = 30,
        min_samples: int = 5,
        fast_increase: float = 0.2,
        period_s: float = 0.5,
        horizon_s: float = 5.0,
        max_increase: float = 1.0,
    ) -> None:
        self.backoff, self.floor, self.increase, self.window = backoff, floor, increase, window
        self.fast_increase, self.period_s, self.horizon_s = fast_increase, period_s, horizon_s
        self.min_samples, self.max_increase = min_samples, max_increase
        self.target: float | None = None  # the last estimate: the server's rate (or our share)
        self.rate: float | None = None  # requests per second
        self._successes: deque[float] = deque(maxlen=samples)  # send times before the first 429
        self._ok: deque[float] = deque(maxlen=4096)  # success completion times after it
        self._throttles: deque[float] = deque(maxlen=256)  # 429 completion times
        self._refused_sent: deque[float] = deque(maxlen=256)  # their send times
        self._sent: deque[float] = deque(maxlen=4096)  # send times (`on_send`)
        self._refusals_reported = False  # `on_refused` reports every refusal's send time
        self._retry_afters: deque[float] = deque(maxlen=32)
        self._changed_at = -math.inf
        self._stepped_at = -math.inf
        self._worked: float | None = None  # the pace before the last probe step: it held
        self._fresh: list[float] = []  # the first `window` send times since the last change
        self._refusal_s: float | None = None  # how long a refusal takes to come back, at most
        self._settled_at = math.inf
        self._since_change = 0
        self._steps = 0
        self._lag = 0.0

    def on_success(self, sent_at: float, now: float | None = None) -> float | None:
        """One request sent at `sent_at` came back ok at `now`; return the rate (None = unset)."""
        now = sent_at if now is None else now
        self._lag = max(now - sent_at, self._lag * 0.98)
        if self.rate is None:
            self._successes.append(sent_at)
            return None
        self._ok.append(now)
        if sent_at < self._changed_at:
            return self.rate
        self._since_change += 1
        self._probe(now)
        return self.rate

    def _probe(self, now: float) -> None:
        """Step the rate up if the pace has worked long enough (see the class docstring)."""
        assert self.rate is not None
        if now - self._stepped_at < self.period_s or not self._worked_since_change(now):
            return
        pressing = self._pressing(now)
        self._since_change, self._stepped_at = 0, now
        self._fresh.clear()
        if not pressing:
            return  # the pace did not bind: that it held says nothing of a higher one
        far = self.target is not None and self.rate < 0.9 * self.target
        if self.target is None:  # no estimate made yet: nothing says where the rate is
            step = min(self.fast_increase * 2**self._steps, self.max_increase)
        elif far:  # heading for the estimate
            step = self.fast_increase
        else:
            step = min(self.increase * 2**self._steps, self.fast_increase)
        self._worked = self.rate  # pressed for a period without a refusal
        self.rate *= 1 + step
        self._steps += 1

    def _worked_since_change(self, now: float) -> bool:
        """Whether enough requests sent since the last change were taken: as many successes
        as `_probe_needs`, or as many sends not refused within twice the slowest recent
        refusal (a rate refuses at arrival, so silence is an answer long before a reply of
        several seconds is)."""
        needs = self._probe_needs()
        if self._since_change >= needs:
            return True
        fresh, answer_s = self._fresh, self._refusal_s
        if answer_s is None or len(fresh) < needs:
            return False
        return fresh[needs - 1] <= now - 2 * answer_s

    def _pressing(self, now: float) -> bool:
        """Whether the sends of the last `period_s` (at least four at the pace) kept up with
        the pace: the pacer, not concurrency or the caller, held them back.

        A pace raised while something else bound the sends runs away from what was sent: at
        5,000 rpm against a server of 3,600, sending 2,000 under a concurrency limit, the next
        refusal's estimate is the 2,000 (the server's bucket sat full), far below both.
        Sends not reported (`on_send`): assumed to.
        """
        if not self._sent or self.rate is None:
            return True
        # Since the last step at most: sends before it went out at the lower pace.
        since = max(now - max(self.period_s, 4.0 / self.rate), self._stepped_at)
        sent = 0
        for t in reversed(self._sent):  # newest first: only the window's sends are read
            if t <= since:
                break
            sent += 1
        return sent >= 0.8 * self.rate * (now - since) - 1.0  # one for the window's edges

    def _probe_needs(self) -> int:
        """Requests taken that show a pace works before the next step: `window` near the
        last estimate, else what the pace sends in one period when fewer (at least 2).

        A first pace measured while concurrency held the sends back (a small bucket's first
        refusals read as a cap) can be a tenth of the rate: 10 successes a step, at 2 a
        second, took 48 s to find a rate of 60 a second in the law's model. Near the
        estimate, a step waits for `window`: a bucket's burst hides a pace above the rate
        until it is spent, and quicker steps climb further above it first (a bucket of 10
        at 5 a second: 1.3% -> 3.8% refused in the law's model).
        """
        pace = self.rate or 0.0
        if self.target is not None and pace >= 0.9 * self.target:
            return self.window
        return min(self.window, max(2, math.ceil(pace * self.period_s)))

    def on_throttle(
        self,
        sent_at: float,
        now: float,
        retry_after: float | None = None,
        delivered: float | None = None,
        least: float | None = None,
    ) -> float | None:
        """A request sent at `sent_at` was refused at `now`; return the new rate.

        `delivered`: successes per second the caller measured just before (its recent
        delivery rate); the first cut paces at `floor` x it rather than halving a guess.
        `least`: no cut goes below this rate.
        """
        self._throttles.append(now)
        took = now - sent_at
        self._refusal_s = took if self._refusal_s is None else max(took, 0.9 * self._refusal_s)
        if not self._refusals_reported:
            self._refused_sent.append(sent_at)
        if retry_after is not None and retry_after > 0:
            self._retry_afters.append(retry_after)
        if self.rate is None:
            self._settled_at = now + self._lag
            # A Retry-After bounds a token bucket's refill interval, but a 503's says nothing
            # of a rate: the higher of the hint and the measured rate is the safer first pace.
            recent = self._recent_acceptance(now)
            known = [r for r in (self._hint(), delivered, recent) if r is not None and r > 0]
            if known:
                # What was delivered includes a bucket's burst; the refusals so far bound
                # what it refills at (a storm's first refusals come in milliseconds).
                start = min(max(known), self._accepted_at_most() or math.inf)
                self._change(max(self.floor * start, least or 0.0, _MIN_RATE), now)
            elif (measured := self._measured_before()) is not None:
                self._change(measured * self.backoff, now)
            return self.rate
        if sent_at < self._changed_at + 0.5 * min(self._lag, 6 * self.period_s):
            # Sent before the last change, or too soon after it for its news to be in: the
            # same overshoot. Refusals come back in milliseconds; a cut per refusal would
            # halve the pace several times before one success at the new pace came back.
            return self.rate
        estimate = self.estimate()
        if estimate is not None:
            self.target = estimate
        new = self.rate * self.backoff
        worked = None if self._worked is None else self.floor * self._worked
        if estimate is not None:
            new = self.floor * estimate  # the rate the server accepted just now
            if worked is not None and (least_b1 := self._strict_bound()) is not None:
                new = max(new, min(worked, self.floor * least_b1))
                self.target = max(estimate, new / self.floor)
        elif (hint := self._hint()) is not None:
            new = max(new, self.floor * hint)
        elif (most := self._accepted_at_most()) is not None:
            new = min(new, most)  # a storm: the server took at most this since it began
            if worked is not None:
                new = max(new, min(worked, most))
        elif self.target is not None:
            new = max(new, self.floor * self.target)  # one refusal: the last estimate stands
        if least is not None:
            new = max(new, least)
        if new < self.rate:
            self._change(max(new, _MIN_RATE), now)
        return self.rate

    def on_send(self, sent_at: float) -> float | None:
        """A request (first attempt or retry) went out at `sent_at`; return the rate (a probe
        step may be due: see `_worked_since_change`)."""
        self._sent.append(sent_at)
        if self.rate is None:
            return None
        if sent_at >= self._changed_at and len(self._fresh) < self.window:
            self._fresh.append(sent_at)
        self._probe(sent_at)
        return self.rate

    def on_refused(self, sent_at: float) -> None:
        """A request sent at `sent_at` was refused, whatever the caller read it as.

        With sends reported, every refusal must be too, or one the caller read as its own
        concurrency's overshoot (not handed to `on_throttle`) would count as accepted.
        """
        self._refusals_reported = True
        self._refused_sent.append(sent_at)

    def estimate(self) -> float | None:
        """Requests per second the server accepted between two 429s, or None.

        By send times when the caller reports sends (`on_send`): every request that arrived
        between two refused ones and was not refused itself took a token, so the count is
        exact at once, without waiting a service time for successes to come back (a refusal
        storm is over in a few refusals, not a few rounds). Otherwise by completion times.
        """
        by_send = self._accepted_between_refusals()
        return by_send if by_send is not None else self._completed_between_refusals()

    def _recent_acceptance(self, now: float) -> float | None:
        """Requests per second sent in the last service time and not refused, or None.

        Completions lag sends by a service time: while the pace was still climbing (slow
        calls), the success rate understates what the server just accepted.
        """
        if self._lag <= 0 or not self._sent:
            return None
        since = now - self._lag
        sent = sum(t > since for t in self._sent)
        refused = sum(t > since for t in self._refused_sent)
        return max(0, sent - refused) / self._lag

    def _strict_bound(self) -> float | None:
        """The least rate at which a bucket of one request takes what the server took
        between the two refused sends the estimate spans; None without an estimate.

        The estimate (accepted / span) is exact while the server's bucket never filled, and
        only a lower bound when it did: a bucket of one fills in any gap between sends
        longer than 1/R, so after a climb towards the rate (or while concurrency held the
        sends back) the estimate reads what we sent, far below the rate (4,085 -> 414 rpm
        in a trace). Each gap refills such a bucket by at most `min(gap x R, 1)`, so the
        rate makes those reach what was accepted. For a larger bucket it may exceed the
        rate (a gap can refill more than one), so it only ever bounds a pace that held.
        """
        counted = self._refusal_span()
        if counted is None or counted[0] < self.min_samples:
            return None
        accepted, span = counted
        b = max(self._refused_sent)
        sends = [t for t in self._sent if b - span <= t <= b]
        gaps = sorted(y - x for x, y in itertools.pairwise(sends))
        return _refill_rate(gaps, accepted)

    def _accepted_between_refusals(self) -> float | None:
        counted = self._refusal_span()
        if counted is None or counted[0] < self.min_samples:
            return None
        return counted[0] / counted[1]

    def _accepted_at_most(self) -> float | None:
        """An upper bound on the accepted rate between the first and last refused send.

        Too few accepted for an estimate (`min_samples`): one more than were accepted, over
        the span, is still more than the server took; it tightens as the storm goes on.
        """
        counted = self._refusal_span()
        return None if counted is None else (counted[0] + 1) / counted[1]

    def _refusal_span(self) -> tuple[int, float] | None:
        """Sends accepted between the earliest refused send within `horizon_s` of the latest
        and the latest, and that span; None without two refused sends or reported sends."""
        refused = self._refused_sent
        if len(refused) < 2 or not self._sent:
            return None
        b = max(refused)
        a = min(t for t in refused if t >= b - self.horizon_s)
        if b <= a:
            return None
        sent = sum(a < t <= b for t in self._sent)
        return max(0, sent - sum(a < t <= b for t in refused)), b - a

    def _completed_between_refusals(self) -> float | None:
        ends = [t for t in self._throttles if t >= self._settled_at]
        if len(ends) < 2:
            return None
        b = ends[-1]
        a = next(t for t in ends if t >= b - self.horizon_s)
        n = sum(a < t <= b for t in self._ok)
        if b <= a or n < self.min_samples:
            return None
        return n / (b - a)

    def _hint(self) -> float | None:
        return 1.0 / max(self._retry_afters) if self._retry_afters else None

    def _change(self, rate: float, now: float) -> None:
        self.rate, self._changed_at, self._since_change = rate, now, 0
        self._stepped_at, self._steps, self._worked = now, 0, None
        self._fresh.clear()

    def _measured_before(self) -> float | None:
        if len(self._successes) < self.min_samples:
            return None
        span = self._successes[-1] - self._successes[0]
        return (len(self._successes) - 1) / span if span > 0 else None
