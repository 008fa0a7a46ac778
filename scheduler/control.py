"""The delivery-rate control law: how many requests to keep in flight at one endpoint.

The law, in the spirit of BBR, for a server whose limits are hidden and whose refusals are
ambiguous (a bare 429 may mean a request rate, a token rate or a concurrency cap; a 503 may
or may not carry Retry-After; a queueing server refuses nothing and only gets slower).

Estimates, each a pure function of the samples fed in (times come from the caller's clock):

* Unloaded latency, like for like (`LatencyEnvelope`). Per stage (a stage is one kind of
  prompt: its input size is roughly fixed) and per quarter-octave of output tokens, the
  lowest latency seen. The unloaded latency expected for a request is the lowest entry of its
  stage at its size or larger (more tokens never come back faster), or a smaller size scaled
  up in proportion to the tokens (latency grows at most linearly in output tokens): the
  lowest of these upper bounds. So a stage of long prompts and short replies is compared
  with itself, never with another stage, and a long reply never looks like a queue.
  Time to first token, when the client reports it (`scheduler.mark_first_token`), has its
  own envelope per stage: it measures the queue without the generation in it.
* Queue signal. `queue` is an EWMA (weight `smoothing`) of latency / expected unloaded
  latency over successes; `queue_ttft` the same for time to first token (over the expected
  plus `ttft_slack_s`, our own event loop's delay in reading a chunk). While first tokens
  are reported, `queue_ttft` is the signal; otherwise `queue`. A value above `tolerance`
  means requests wait at the server: a queue, whatever the server's kind.
* Delivery rate. For each success, the successes completed while it was in flight divided by
  its latency (BBR's delivery-rate sample); `delivery_rate` is the largest sample of the last
  `max(window_min_s, 4 x base latency)` seconds. Whatever limits the server (capacity,
  request rate, token rate), this is what it delivers.
* Base latency: an EWMA of the expected unloaded latency of the requests that completed (the
  mix of stages flowing now). `bdp = delivery_rate x base latency` is how many requests the
  server holds in service at its delivered rate: the capacity C when capacity binds
  (Little's law: C / service x service), R x latency when a rate binds.

Control of the in-flight limit L (a float `window`, the limit is its floor):

* Fast start. Until the first refusal or queue signal, every acknowledgement adds 1 to L
  (doubling per round trip, acknowledgement-clocked like TCP slow start). A reply (no
  streaming) adds at once if the request used at least half of L and its latency is not
  above `tolerance` x the envelope's (the first sign of a queue adds nothing; the second in
  a row ends fast start). Gating replies like first tokens would keep a queueing server
  unstuffed but wait for each round's slowest reply, and on slow calls of varied length
  that costs more than it saves (2.1 -> 3.0 x the bound in the law's model); the local
  presets stream. A first token adds only once every request sent before it has had its own
  (`dispatched`/`settled` tell the law what is out): at a queueing server the requests sent
  with it wait without a first token, so L does not grow on the served ones before the
  waiting ones show the queue. Growth from first tokens is paced, one slot per `ttft / L`
  (BBR paces its startup the same way): a first token frees no slot, so unpaced growth
  would leave in one burst, and a cap would refuse the whole burst before its first
  refusal came back. Calls of several seconds acknowledge nothing for a long time, so
  while nothing at all has been acknowledged, L doubles every `blind_period_s` of full use
  (`tick`): 20 slow calls are all in flight within a few seconds, not after the first 20 s
  call returns.
* Queue. A queue signal (in fast start: two inflated samples in a row, HyStart's early exit)
  on a request sent after the last cut sets `L = min(L, round(bdp at the lowest latency))`:
  drain to what the server delivers; it ends fast start. While first tokens are reported,
  not below the requests being served (first token seen, not ended): a queue's waiting
  requests have none, and early on, with calls of seconds, the bdp still reads a fraction
  of what is served (a drain from 32 to 2 at a cap of 32 in the law's model). Repeated
  signals of the same queue leave L there (idempotent), so a queueing server (llama.cpp,
  Ollama, vLLM at saturation) settles at its capacity, with at most one or two requests
  waiting.
* Jitter (`scheduler.jitter`). A server whose latency varies on its own sits above the lowest
  latency at any load, and read as a queue each drain cut L to 1 / jitter of the cap, again
  and again, down to 1. So a drain to at most `QUEUE_FALL` (0.85) x the level it left is a
  trial: once as many requests sent after it as it drained to (at least 4) are back, the mean
  of their latency over the lowest is compared with the mean before it, at the old level. A
  queue's latency falls with the level; if it did not fall below 0.85 x, that mean is the
  jitter: L goes back to the level (and fast start, if it was on), and from then on a queue
  reads above `tolerance x jitter` and the bdp uses the lowest latency x the jitter. A
  repeated signal at the same level drains to 0.85 x it to find out, when its newest sample
  is itself inflated, and so does fast start's exit. Only a drain to at most the floor of
  the bdp at the lowest latency (surely not above the capacity) may conclude jitter, and
  none that a request overdue for its first token caused (it waits: no jitter does that).
  Jitter at most `JITTER_MAX` (3), learned per signal: fast start's two-in-a-row exit stays
  off once the signal it reads (first tokens or whole replies) is known to jitter.
* Refusal. Any refusal (429, 503, 529, timeout; with or without Retry-After) of a request sent
  after the last cut sets `L = max(minimum, min(floor(backoff x L), max(accepted,
  floor(backoff x bdp))))`, where `accepted` is how many of our requests were in flight both
  when it was sent and when it was refused (a lower bound on what the server was serving);
  it ends fast start. The first cut (fast start's overshoot) uses `L - 1` for `backoff x L`:
  the overshoot measured the cap; so does a refusal above the level the last cut went to (a
  probe that found the cap: backing off a tenth there cost 1.33 -> 1.42 x the bound on slow
  calls in the law's model). A refusal of a request sent before the last cut is the same
  overshoot: ignored. So a concurrency cap answered with a bare 429 converges on the cap in
  one step, and a rate limit's refusals leave L near R x latency, where the pacer (fed the
  same refusals) does the work. `rate_signal` says a refusal was not concurrency's doing:
  it came at a level that had worked since the last cut, with nothing else in flight, or
  after a cut with no request sent since succeeding (the cut went to what a cap accepted:
  an empty bucket refuses at every level, a steady cap only above itself). Those set
  `L = max(accepted + 1, 2)` and go to the pacer, without a hold; in a storm (the last
  case, at or below the level that cut went to) each one halves L instead, down to 2,
  because the slot a refusal frees would go straight back out and be refused in a
  millisecond. A refusal of a request that had its first token is never a rate (a rate
  refuses at arrival): a server that ends a running stream for a newcomer
  (llama-cpp-python's default) is cut to what it was serving, with the cut's level (in
  flight when it happened) held. A capacity drop looks like a storm for a moment: it loses
  a halving, which successes at the new cap win back in a round trip.
* Paced. After a rate signal outside a storm the pacer holds the rate (`paced_at` tells the
  law its pace): each success adds a slot up to `gain x pace x base latency + 1`, past the
  bdp cap, so in flight keeps up with the pace instead of binding the sends for seconds
  after each cut; and the caller hands every refusal to the pacer while this lasts (`paced`),
  since the limit follows the pace to levels that never worked. A cut read as a cap, or a
  queue, ends it.
* Listen. After a cut, the limit follows the requests sent before it down as they end, plus
  one new request, until that one is answered: by a refusal (the next cut), a first token or
  reply, or no refusal within two of the cut's round trips (`_listen`). A cut cannot tell a
  cap from an empty bucket, and replies free slots far faster than a refusal comes back, so
  refilling each freed slot at once sent every one into the empty bucket (13 refusals per
  storm in the law's model, 4 at most with listening); a cap loses two round trips of
  refilled slots. Not after a refusal slower than `PROBE_MAX_S` or a stream cut for a
  newcomer.
* Probe. After fast start, each success of a request sent after the last cut, with no queue
  and at least half of L in use, adds `1 / L` (one per round trip), capped at
  `gain x bdp + 1`: in flight never runs far ahead of what the server delivers.
  After a cut read as a cap, once its hold ends, L also grows on time (`tick`): one slot per
  two round trips of the refusal that caused the cut (plus `ttft_slack_s`) while every slot
  is in use, until a refusal. A server that refuses at arrival answers within a round trip,
  so a cap costs one refusal per hold, and a token bucket that fast start overshot (its
  first refusal reads as a cap) is found in a fraction of a second: growth per reply takes
  seconds per slot when calls take seconds. No such probing after a refusal slower than
  `PROBE_MAX_S` (a timeout, a full queue's) or a stream cut for a newcomer, nor after a
  rate signal (the pacer's to find the rate) or a queue. Probing stops at twice the level
  the cut went to (growth per reply goes on): a queue behind a proxy that refused once
  answers no probe. A refusal above the level the last cut went to is a probe finding the
  cap, never a storm.
* Clamp: L stays in `[minimum, maximum]`.

What it does not handle: a server whose unloaded latency rises for good (a slower model) reads
as a queue and holds L at the bdp, which is still what the server delivers; without first-token
reports, fast start (blind doubling, then one slot per reply) can put requests into a queueing
server's queue before the first inflated replies show it, which is why lanes extend a queued
attempt's timeout while the endpoint keeps completing others; a capacity drop is for a
moment a storm, so the pacer paces near the new capacity's rate until it probes back up; the
envelope never ages, so a server that became faster is compared with its slower past
(harmless: it only hides queues shorter than the speed-up); a queue that other clients keep
full does not shrink when we drain, so it reads as jitter (up to `JITTER_MAX`, 3 x the lowest
latency); with jitter, fast start ends early on two slow replies, and the trial that undoes
it costs a round at the drained level (on slow calls, seconds).

Defaults: initial 4, minimum 1, maximum 256, tolerance 1.3, smoothing 0.3, backoff 0.9,
gain 1.25, blind_period_s 3.0, window_min_s 2.0, hold_rtts 8, hold_min_s 1.0,
max_holds 4, ttft_slack_s 0.03; `PROBE_MAX_S` 1.0.
"""

import bisect
import heapq
import math
from collections import deque

from scheduler.jitter import JITTER_MAX, MIN_SAMPLES, QUEUE_FALL, DrainTrial, RecentRatios
from scheduler.limits import LimitBase, LimitListener, Sample

__all__ = ["DeliveryLimit", "DeliveryMeter", "LatencyEnvelope", "Outstanding", "size_class"]

OVERDUE, LATE = 4.0, 2.0  # x the unloaded time to first token: a queue; a pause in growth
_STEPS_PER_OCTAVE = 4
_KEEP = 8192  # completion times kept for delivery-rate samples
PROBE_MAX_S = 1.0  # a refusal slower than this is no answer at arrival: no probing on time


def size_class(tokens: int) -> int:
    """Quarter-octave class of an output size: 0 for 0 tokens, +4 per doubling."""
    return int(_STEPS_PER_OCTAVE * math.log2(max(tokens, 0) + 1))


class LatencyEnvelope:
    """Lowest latency seen per (kind, size class); `expected` compares like with like."""

    __slots__ = ("_low",)

    def __init__(self) -> None:
        self._low: dict[str, dict[int, float]] = {}

    def observe(self, kind: str, tokens: int, latency_s: float) -> None:
        """Record one unqueued-or-not latency; only the lowest per class is kept."""
        classes = self._low.setdefault(kind, {})
        c = size_class(tokens)
        if latency_s < classes.get(c, math.inf):
            classes[c] = latency_s

    def slowest(self) -> float | None:
        """The largest unloaded latency of any kind's smallest class (None before any)."""
        lows = [min(classes.values()) for classes in self._low.values() if classes]
        return max(lows) if lows else None

    def expected(self, kind: str, tokens: int) -> float | None:
        """Unloaded latency expected for `tokens` of `kind`, or None before any sample."""
        classes = self._low.get(kind)
        if not classes:
            return None
        c = size_class(tokens)
        # Each known class bounds this one from above: a larger reply as is (more tokens never
        # come back faster), a smaller one scaled up as if latency were linear in tokens.
        return min(
            v if k >= c else v * math.pow(2.0, (c - k + 1) / _STEPS_PER_OCTAVE)
            for k, v in classes.items()
        )


class DeliveryMeter:
    """Delivery-rate samples and their windowed maximum."""

    __slots__ = ("_done", "_samples")

    def __init__(self) -> None:
        self._done: list[float] = []  # completion times of successes, ascending
        self._samples: deque[tuple[float, float]] = deque()  # (at, rate)

    def record(self, sent_at: float, now: float, window_s: float) -> float:
        """One success: return its delivery-rate sample (successes per second)."""
        if self._done and now < self._done[-1]:
            now = self._done[-1]  # completions arrive in order of the caller's clock
        self._done.append(now)
        if len(self._done) > _KEEP:
            del self._done[: _KEEP // 2]
        span = max(now - sent_at, 1e-3)
        delivered = len(self._done) - bisect.bisect_right(self._done, sent_at)
        rate = delivered / span
        # A sliding-window maximum: samples kept in decreasing order, so the head is the max
        # and each sample is pushed and popped once (O(1) per success, not O(window)).
        while self._samples and self._samples[-1][1] <= rate:
            self._samples.pop()
        self._samples.append((now, rate))
        while self._samples[0][0] < now - window_s:
            self._samples.popleft()
        return rate

    @property
    def rate(self) -> float | None:
        """Largest recent sample, or None before any."""
        return self._samples[0][1] if self._samples else None

    def recent(self, now: float, window_s: float) -> float | None:
        """Successes per second completed in the last `window_s`, or None before any."""
        if not self._done:
            return None
        return (len(self._done) - bisect.bisect_right(self._done, now - window_s)) / window_s


class Outstanding:
    """Send times of attempts in one state (sent without a first token; served, not ended):
    how many, and the oldest one in O(log n)."""

    __slots__ = ("_count", "_heap")

    def __init__(self) -> None:
        self._heap: list[float] = []
        self._count: dict[float, int] = {}

    def add(self, sent_at: float) -> None:
        """An attempt went out at `sent_at`."""
        if sent_at not in self._count:
            heapq.heappush(self._heap, sent_at)
        self._count[sent_at] = self._count.get(sent_at, 0) + 1

    def remove(self, sent_at: float) -> None:
        """The attempt sent at `sent_at` got its first token or ended (no-op when unknown)."""
        n = self._count.get(sent_at, 0)
        if n > 1:
            self._count[sent_at] = n - 1
        elif n == 1:
            del self._count[sent_at]
            if len(self._heap) > 2 * len(self._count) + 64:  # removed entries: bounded
                self._heap = list(self._count)
                heapq.heapify(self._heap)

    def __len__(self) -> int:
        return sum(self._count.values())

    def oldest(self) -> float | None:
        """The earliest send time still out, or None."""
        while self._heap and self._heap[0] not in self._count:
            heapq.heappop(self._heap)  # lazily: removed entries leave the heap here
        return self._heap[0] if self._heap else None

    def clear(self) -> None:
        self._heap.clear()
        self._count.clear()


class DeliveryLimit(LimitBase):
    """The delivery-rate law above as a `Limit`: pure, fed samples and times by the caller."""

    def __init__(
        self,
        initial: int = 4,
        minimum: int = 1,
        maximum: int = 256,
        *,
        tolerance: float = 1.3,
        smoothing: float = 0.3,
        backoff: float = 0.9,
        gain: float = 1.25,
        blind_period_s: float = 3.0,
        window_min_s: float = 2.0,
        hold_rtts: float = 8.0,
        hold_min_s: float = 1.0,
        max_holds: int = 4,
        ttft_slack_s: float = 0.03,
        on_change: LimitListener | None = None,
    ) -> None:
        if not 0 < backoff < 1:
            raise ValueError(f"backoff must be in (0, 1), got {backoff}")
        if tolerance <= 1 or gain < 1:
            raise ValueError(f"need tolerance > 1 and gain >= 1, got {tolerance}, {gain}")
        super().__init__(initial, minimum, maximum, on_change)
        self.tolerance, self.smoothing, self.backoff, self.gain = (
            tolerance,
            smoothing,
            backoff,
            gain,
        )
        self.blind_period_s, self.window_min_s = blind_period_s, window_min_s
        self.hold_rtts, self.hold_min_s, self.max_holds = hold_rtts, hold_min_s, max_holds
        self.ttft_slack_s = ttft_slack_s
        self.window = float(self._limit)
        self.starting = True  # fast start: until the first refusal or queue signal
        self.envelope = LatencyEnvelope()
        self.ttft_envelope = LatencyEnvelope()
        self.meter = DeliveryMeter()
        self.queue = 1.0
        self.queue_ttft = 1.0
        self.jitter = 1.0  # typical unloaded latency / lowest seen (`scheduler.jitter`)
        self.jitter_ttft = 1.0  # ... and the same for time to first token
        self._trial: DrainTrial | None = None  # the last drain, until its requests are back
        self._ratios = RecentRatios()  # latency over the lowest seen, of the last few
        self.base_s: float | None = None
        self._inflated = 0  # consecutive samples above tolerance (fast start's early exit)
        self._ttft_seen = False
        self._ttft_fresh = 0  # successes without a first-token report since the last one
        self._acked = False
        self._grown_at: float | None = None
        self._last_cut_at = -math.inf
        self._ok_level = 0  # most in flight at the send of a success since the last cut
        self._unanswered_cut = False  # no success yet of a request sent after the last cut
        self._cut_level = 0  # the limit the last refusal's cut went to
        self.rate_signal = False  # the last refusal came at an in-flight count that had worked
        self._paced = False  # the last cut was a rate's: the pacer spaces sends, L follows
        self._pace: float | None = None  # requests per second the caller paces at, if any
        self.storm = False  # ... or read so only because it came in a storm (a moved cap too)
        self._refused_level: int | None = None  # in flight when the last overshoot was refused
        self._hold_until = -math.inf
        self._holds = 0
        self._probe_at: float | None = None  # after a cap's cut: when to add the next slot
        self._probe_every_s = 0.0  # ... and how often: a refusal's round trip, twice
        self._outstanding = Outstanding()  # fast start: sent, no first token yet
        self._serving = Outstanding()  # first token seen, not ended: in service at the server
        self._credit = 0  # first tokens not yet turned into growth (older ones still out)
        self._target: float | None = None  # paced growth heads here
        self._step_at = -math.inf  # when paced growth may add its next slot
        self._step_span_s = 0.0  # paced growth spreads L slots over this (time to first token)
        self._listen_old: int | None = None  # listening after a cut: earlier requests still out
        self._listen_sent: float | None = None  # ... and when its one new request went out
        self._listen_for_s = 0.0  # ... which, not refused within this, was accepted

    # --- estimates -------------------------------------------------------------------------

    @property
    def delivery_rate(self) -> float | None:
        """Requests per second the server delivered at best, recently; None before any."""
        return self.meter.rate

    @property
    def bdp(self) -> float | None:
        """Requests the server holds in service at its delivered rate; None before any.

        The delivered rate times the typical unloaded latency: the lowest one seen scaled by
        the jitter, since a server whose latency varies serves for longer than its lowest.
        """
        raw = self._raw_bdp
        return None if raw is None else raw * self.jitter

    @property
    def _raw_bdp(self) -> float | None:
        """The delivered rate times the lowest latency: never above the server's capacity."""
        rate = self.meter.rate
        return None if rate is None or self.base_s is None else rate * self.base_s

    @property
    def queued(self) -> bool:
        """Whether requests wait at the server now (latency above the unloaded envelope).

        In fast start two inflated samples in a row are enough (HyStart's idea: a doubling
        left running until the average moves fills the queue), unless the signal is known
        to jitter; after it, the average decides. Neither before `MIN_SAMPLES` of the
        signal: the lowest of two or three is no unloaded latency yet (at 1-2 x jitter the
        first four first tokens drained fast start to 3 and held it there for a round of
        8 s calls). A queue that early shows as first tokens overdue (`tick`).
        """
        ttft = self._streaming
        if self._ratios.seen(ttft) < MIN_SAMPLES:
            return False
        jitter = self._jitter_of(ttft)
        if self.starting and self._inflated >= 2 and jitter == 1.0:
            return True
        signal = self.queue_ttft if ttft else self.queue
        return signal > self.tolerance * jitter

    def _jitter_of(self, ttft: bool) -> float:
        return self.jitter_ttft if ttft else self.jitter

    @property
    def _streaming(self) -> bool:
        """Whether first tokens are reported now (their signal, not whole latency, decides)."""
        return self._ttft_seen and self._ttft_fresh < 8

    @property
    def serving(self) -> int:
        """Requests whose first token came and that have not ended: in service at the server."""
        return len(self._serving)

    @property
    def paced(self) -> bool:
        """Whether the last cut was read as a rate (the pacer holds the rate, L follows it)."""
        return self._paced

    @property
    def hold_until(self) -> float:
        """Until when the last refused in-flight level is not probed again (-inf: none)."""
        return self._hold_until

    def recent_rate(self, now: float) -> float | None:
        """Successes per second over the last window (where a pacer may start)."""
        return self.meter.recent(now, self._window_s())

    def rate_floor(self) -> float | None:
        """Half a request per unloaded latency: the least a pacer should fall to.

        Refusals that slowing down does not stop (a server's periodic 429 bursts, a refusing
        proxy) would otherwise cut the pace again and again, down to nothing.
        """
        return None if self.base_s is None or self.base_s <= 0 else 0.5 / self.base_s

    def _window_s(self) -> float:
        return max(self.window_min_s, 4.0 * (self.base_s or 0.0))

    # --- samples ---------------------------------------------------------------------------

    def update(self, sample: Sample) -> int:
        """Feed one finished attempt; return the new limit."""
        if sample.dropped:
            return self._on_refusal(sample)
        return self._on_success(sample)

    def first_token(self, kind: str, sent_at: float, ttft_s: float) -> int:
        """An attempt of `kind` sent at `sent_at` got its first token after `ttft_s`."""
        expected = self.ttft_envelope.expected(kind, 0)
        self.ttft_envelope.observe(kind, 0, ttft_s)
        if expected is not None and expected > 0:
            # The slack absorbs our own event loop's delay in reading the first chunk: a
            # first token a few ms late is not a queue (a real queue adds a whole reply).
            ratio = ttft_s / (expected + self.ttft_slack_s)
            self.queue_ttft += self.smoothing * (ratio - self.queue_ttft)
            slow = ratio > self.tolerance * self.jitter_ttft
            self._inflated = self._inflated + 1 if slow else 0
            self._ratios.add(True, sent_at, ratio)
            if self._trial is not None:
                self._trial.add(True, sent_at, ratio)
        self._ttft_seen, self._ttft_fresh = True, 0
        self._acked = True
        now = sent_at + ttft_s
        self._outstanding.remove(sent_at)
        self._serving.add(sent_at)
        if sent_at < self._last_cut_at:
            return self._limit
        self._heard()  # served, so the cut's one new request was accepted
        if self._trial is not None:
            return self._judge()
        if self.queued and not self._all_served(now):
            return self._drain(now)
        if not self.starting:
            return self._limit
        self._credit += 2  # a first token frees no slot: 2 per token doubles per round
        oldest = self._outstanding.oldest()
        # Nothing sent before (or with) this one still waits for its first token; "with":
        # within half a time to first token, as a burst's requests leave one after another.
        if oldest is None or oldest > sent_at + 0.5 * ttft_s:
            self._grow_paced(now, float(self._credit), ttft_s)
            self._credit = 0
        return self._step(now)

    def dispatched(self, sent_at: float) -> bool:
        """An attempt was sent at `sent_at` (the time `first_token` will be given).

        True when it is the one request a cut listens for: `next_tick` is now due earlier.
        """
        self._outstanding.add(sent_at)
        listening = self._listen_old is not None and self._listen_sent is None
        if listening and sent_at >= self._last_cut_at:
            self._listen_sent = sent_at
            return True
        return False

    def settled(self, sent_at: float) -> None:
        """The attempt sent at `sent_at` ended, however (it no longer waits for a token)."""
        self._outstanding.remove(sent_at)
        self._serving.remove(sent_at)
        if self._listen_old is not None and sent_at < self._last_cut_at:
            self._listen_old = max(0, self._listen_old - 1)  # its slot is not refilled
            self._apply("listen")

    def _overdue_at(self, factor: float | None = None) -> float | None:
        """When the oldest request still without a first token will show a queue (fast start).

        Past `OVERDUE` (4) x the slowest stage's unloaded time to first token (plus the
        slack) it waits at the server: a queue, seen before its first token (or any reply)
        comes back. A real queue holds a request for a whole reply, many times the time to
        first token; 4 x leaves room for a real server's jitter. Paced growth already pauses
        past `LATE` (2) x: it may be the start of one.
        """
        if not (self.starting and self._ttft_seen):
            return None
        oldest = self._outstanding.oldest()
        slowest = self.ttft_envelope.slowest()
        if oldest is None or slowest is None:
            return None
        return oldest + (OVERDUE if factor is None else factor) * slowest + self.ttft_slack_s

    def _all_served(self, now: float) -> bool:
        """Whether no request of ours is overdue for its first token (`OVERDUE` x the slowest
        stage's unloaded one, plus the slack): the server serves all of them, no queue.

        Slow first tokens with none waiting are jitter (or a batch that got slower): a
        drain then only starts a trial that holds the limit for a round of replies
        (6.5 s at 1.6-8 s calls with jitter, 12 in flight of a capacity of 32).
        """
        oldest = self._outstanding.oldest()
        slowest = self.ttft_envelope.slowest()
        if slowest is None:
            return False
        return oldest is None or now < oldest + OVERDUE * slowest + self.ttft_slack_s

    def _grow_paced(self, now: float, slots: float, ttft_s: float) -> None:
        self._target = max(self._target or 0.0, self.window) + slots
        self._step_span_s = max(self._step_span_s, ttft_s)
        self._step_at = max(self._step_at, now)

    def _step(self, now: float) -> int:
        """Paced growth: one slot per `ttft / L` until the target."""
        if self._target is None:
            return self._limit
        grew = False
        late = self._overdue_at(LATE)
        if late is not None and now >= late:
            return self._limit  # a request is late for its first token: wait and see
        if self._step_at < now - self._step_span_s / max(self.window, 1.0):
            self._step_at = now  # it paused: resume at the pace, not with a catch-up burst
        while self.window < self._target and self._step_at <= now + 1e-12:
            self.window = min(self.window + 1.0, self._target)
            self._step_at += self._step_span_s / max(self.window, 1.0)
            grew = True
        if self.window >= self._target:
            self._target = None
        return self._apply("fast_start") if grew else self._limit

    def _end_start(self) -> None:
        """Fast start is over (a refusal or a queue): drop its bookkeeping."""
        self.starting = False
        self._target, self._credit = None, 0

    def tick(self, now: float, inflight: int) -> int:
        """Time passes: an overdue first token, paced growth, blind doubling while nothing is
        acknowledged, a listening cut's request answered by no refusal."""
        heard = self._listen_ends_at()
        if heard is not None and now >= heard - 1e-9:
            return self._heard()
        overdue = self._overdue_at()
        if overdue is not None and now >= overdue and self._trial is None:
            return self._drain(now, trial=False)  # a request waits with no token: no jitter
        if self._target is not None:
            return self._step(now)
        if self._probe_at is not None:
            return self._probe(now, inflight)
        if not self.starting or self._acked or inflight < self._limit:
            return self._limit
        if self._grown_at is None:
            self._grown_at = now
        elif now >= self._grown_at + self.blind_period_s - 1e-9:
            self._grown_at = now
            self.window *= 2.0
            return self._apply("fast_start")
        return self._limit

    def next_tick(self) -> float | None:
        """When `tick` may change the limit next (None: it will not)."""
        heard = self._listen_ends_at()
        later = self._next_tick()
        return heard if later is None or (heard is not None and heard < later) else later

    def _next_tick(self) -> float | None:
        overdue = self._overdue_at()
        if self._target is not None:
            late = self._overdue_at(LATE)
            if late is None or self._step_at < late:
                return self._step_at
            return overdue  # growth pauses for a late first token: next, it may be a queue
        if overdue is not None:
            return overdue
        if self._probe_at is not None:
            return self._probe_at
        if not self.starting or self._acked or self._grown_at is None:
            return None
        return self._grown_at + self.blind_period_s

    def _observe_latency(self, s: Sample) -> bool:
        """Feed the envelope, the queue signal and the base latency; return whether `s` was
        slow for its kind (above `tolerance` x its expected unloaded latency)."""
        expected = self.envelope.expected(s.stage, s.output_tokens)
        self.envelope.observe(s.stage, s.output_tokens, s.latency_s)
        slow = False
        if expected is not None and expected > 0:
            ratio = s.latency_s / expected
            slow = ratio > self.tolerance * self.jitter
            self.queue += self.smoothing * (ratio - self.queue)
            self._ratios.add(False, s.now - s.latency_s, ratio)
            if self._trial is not None:
                self._trial.add(False, s.now - s.latency_s, ratio)
            if s.ttft_s is None:
                self._inflated = self._inflated + 1 if slow else 0
        base = s.latency_s if expected is None else min(expected, s.latency_s)
        self.base_s = base if self.base_s is None else self.base_s + 0.1 * (base - self.base_s)
        return slow

    def _on_success(self, s: Sample) -> int:
        sent = s.now - s.latency_s
        slow = self._observe_latency(s)
        self.meter.record(sent, s.now, self._window_s())
        self._ttft_fresh += 0 if s.ttft_s is not None else 1
        self._acked = True
        if sent < self._last_cut_at:
            return self._limit  # sent before the last cut: that cut's news
        self._ok_level = max(self._ok_level, s.inflight)
        self._unanswered_cut = False  # something sent since the last cut got through
        self._heard()  # ... so the law has heard back, however few were out
        if self._trial is not None:
            return self._judge()
        if self.queued:
            return self._drain(s.now)
        if 2 * s.inflight < self.window:
            return self._limit  # app-limited: says nothing about the server
        if self.starting:
            # A first-token report already counted this one. A slow reply may be a queue's
            # first sign (a second in a row ends fast start): it adds nothing.
            if s.ttft_s is None and not slow:
                self.window += 1.0  # not gated like first tokens: see the docstring
            return self._apply("fast_start")
        self.window += 1.0 / max(self.window, 1.0)
        bdp = self.bdp
        if bdp is not None:
            self.window = min(self.window, max(math.floor(self.window), self.gain * bdp + 1.0))
        if (need := self._pace_needs()) is not None:
            self.window = max(self.window, min(math.floor(self.window) + 1.0, need))
        if self._refused_level is not None:
            if s.inflight >= self._refused_level:
                self._refused_level, self._holds = None, 0  # that level works now
            elif s.now < self._hold_until:
                self.window = min(self.window, self._refused_level - 0.5)
        return self._apply("increase")

    def _on_refusal(self, s: Sample) -> int:
        sent = s.now - s.latency_s
        fresh = sent >= self._last_cut_at
        accepted = s.inflight - 1 if s.others is None else min(s.inflight - 1, s.others)
        # Refused at a level that had worked, or with nothing else of ours in flight: the
        # in-flight count was not the cause.
        # Or refused again, after a cut, before anything sent since that cut got through: a
        # rate limit's empty bucket refuses at every level, and cutting concurrency step by
        # step (each cut waits for a fresh refusal) would take a refusal storm to get there.
        # A cap refuses only above itself, and the cut went to what it accepted: a capacity
        # drop looks the same for a moment, and the pacer then paces at the new capacity's
        # rate until its probes find the cap again.
        # A refusal above the level the cut went to is a probe that found the cap, no storm.
        storm = self._unanswered_cut and s.inflight <= self._cut_level
        plain = accepted <= 0 or s.inflight <= self._ok_level
        # Cut after its first token: a rate refuses at arrival, so this was the server giving
        # up a request it served for another (llama-cpp-python ends a running stream when a
        # second request arrives): concurrency, whatever came before.
        served = s.ttft_s is not None
        self.rate_signal = fresh and not served and (plain or storm)
        self.storm = self.rate_signal and not plain
        if not fresh:
            return self._limit  # the same overshoot as the last cut
        self._unanswered_cut = True
        self._last_cut_at = s.now
        self._trial = None  # a refusal says more than latency: no restoring a drained level
        first_cut = self.starting
        self._end_start()
        if self.rate_signal:  # a level that had worked: mostly the pacer's news; no hold
            # In a storm, what is still in flight was accepted before the bucket ran dry; a
            # slot that a refusal frees would go straight back out and be refused in a
            # millisecond. Halving per fresh refusal, sends soon wait for those to drain
            # (the bucket refills meanwhile) and the pacer, fed the same refusals, takes
            # over; a capacity drop, which looks the same for a moment, loses one halving.
            keep = max(accepted + 1, 2)
            if self.storm:
                keep = max(2, min(keep, math.floor(self.window) // 2))
            self.window = float(max(self.minimum, min(math.floor(self.window), keep)))
            self._ok_level = 0
            self._probe_at = None  # the pacer's to find the rate
            # A storm may be a moved cap: the limit then keeps its own growth, not the pace's.
            self._paced = not self.storm
            self._listen(s.others, s.latency_s)
            return self._cut_to()
        # A served request's cut says the server serves fewer than it was delivering: what
        # was accepted is the cap, with no floor at the bdp.
        bdp = None if served else self.bdp
        floor_bdp = math.floor(self.backoff * bdp) if bdp is not None else 0
        # Fast start's overshoot measures a cap: what was accepted while our requests kept
        # coming is it. Later cuts also back off, since the cap may be moving.
        found = first_cut or (self._cut_level > 0 and s.inflight > self._cut_level)
        most = self.window - 1 if found else math.floor(self.backoff * self.window)
        target = min(most, max(accepted, floor_bdp))
        self.window = float(max(self.minimum, target))
        # A served request was cut when another arrived: that level (in flight at the cut)
        # is the one refused, not the level it was sent at.
        level = max(s.inflight, (s.others or 0) + 1) if served else s.inflight
        self._hold(level, s.now)
        self._paced = False
        self._arm_probe(None if served else s.latency_s)
        self._ok_level = 0
        self._listen(None if served else s.others, s.latency_s)
        return self._cut_to()

    def paced_at(self, rate_per_s: float | None) -> None:
        """The caller paces sends at `rate_per_s` now (None: unpaced)."""
        self._pace = rate_per_s

    def _pace_needs(self) -> float | None:
        """What the pace keeps busy, `gain x pace x base latency + 1`, while the pacer holds
        the rate (the last cut read a rate, not in a storm); else None.

        Successes then grow the limit a slot each up to it, past the bdp cap: under that cap
        (x 1.25 a round while the limit binds) the limit, not the pace, bound the sends for
        seconds after each cut, and the pacer's probes measured nothing.
        """
        if not self._paced or self._pace is None or self.base_s is None:
            return None
        return math.floor(self.gain * self._pace * self.base_s + 1.0)

    def _listen(self, others: int | None, refused_in_s: float) -> None:
        """After a cut, send one request and hear its answer before refilling freed slots.

        The cut cannot tell a cap from an empty bucket. At a cap, a slot that a reply frees
        may go straight back out; at an empty bucket, it is refused in a round trip, and
        replies free slots far faster than that (35 in flight for 60 ms: one per 2 ms,
        against a refusal's 5-15 ms), so every freed slot is refused before the next cut.
        So the limit follows the earlier requests down as they end, plus one new request:
        answered by a refusal (the next cut), by a first token or reply (accepted), or by
        no refusal within two of the cut's round trips (accepted: a refusal comes at
        arrival). A cap loses about that long of refilled slots; a bucket, all but one of
        the refusals. Not after a refusal slower than `PROBE_MAX_S` (no answer at arrival)
        or a stream cut for a newcomer (its cut already sits below what was served).
        """
        if others is None or refused_in_s > PROBE_MAX_S:
            self._listen_old = None
            return
        self._listen_old, self._listen_sent = others, None
        self._listen_for_s = 2.0 * refused_in_s

    def _heard(self) -> int:
        """The request a cut listened for was accepted: freed slots may be refilled again."""
        if self._listen_old is None:
            return self._limit
        self._listen_old = None
        return self._apply("listen")

    def _listen_ends_at(self) -> float | None:
        """When the request sent while listening counts as accepted (None: not yet sent)."""
        if self._listen_old is None or self._listen_sent is None:
            return None
        return self._listen_sent + self._listen_for_s

    def _cut_to(self) -> int:
        self._cut_level = self._apply("decrease")
        return self._cut_level

    def _hold(self, refused_at: int, now: float) -> None:
        """Probe the refused in-flight level again only after a pause that doubles on repeats.

        A repeat is a probe that failed: a refusal after the last pause ended. Refusals during
        a pause (a rate limit's storm refuses at every level) do not lengthen it, or a few
        of them in a row would hold the limit near 1 for `2**max_holds` pauses.
        """
        repeat = self._refused_level is not None and refused_at <= self._refused_level
        if repeat and now >= self._hold_until:
            self._holds = min(self._holds + 1, self.max_holds)
        self._refused_level = refused_at
        pause = max(self.hold_min_s, self.hold_rtts * (self.base_s or 0.0)) * 2**self._holds
        self._hold_until = now + pause

    def _arm_probe(self, refused_in_s: float | None) -> None:
        """After a cap's cut, probe above it on time once its hold ends, not per reply.

        A server that refuses at arrival says no within a round trip, so a request it has not
        refused within two of them was taken: one slot per two round trips finds a cap (one
        refusal), or shows that it was none (an empty bucket read as a cap refuses nothing
        once it refills), in milliseconds. Growth per reply (one slot per round trip) takes
        seconds per slot when calls take seconds. A refusal slower than `PROBE_MAX_S` (a
        timeout, a full queue's) is no such answer, nor is a stream cut for a newcomer (each
        probe would cut another): no probing on time.
        """
        if refused_in_s is None or refused_in_s > PROBE_MAX_S:
            self._probe_at = None
            return
        self._probe_every_s = 2.0 * refused_in_s + self.ttft_slack_s
        self._probe_at = self._hold_until

    def _probe(self, now: float, inflight: int) -> int:
        at = self._probe_at
        if at is None or now < at or inflight < self._limit:
            return self._limit  # held, or slots to spare: nothing to learn
        self.window = math.floor(self.window) + 1.0
        # Twice what the cut kept, at most: a queue behind a proxy that refused once answers
        # no probe, and shows only a service time later.
        done = self.window >= 2 * self._cut_level
        self._probe_at = None if done else now + self._probe_every_s
        return self._apply("probe")

    def _drain(self, now: float, trial: bool = True) -> int:
        self._paced = False
        level, starting, streaming = self.window, self.starting, self._streaming
        before = self._ratios.mean(streaming, since=self._last_cut_at)  # at this level
        serving = self.serving
        self._end_start()
        self._probe_at = None  # a queue shows slowly: probing on time would stuff it
        self._last_cut_at, self._ok_level = now, 0
        # The bdp at the lowest latency: at most the capacity even where latency jitters, so
        # the requests sent after the drain wait in no queue and their latency is the jitter.
        bdp = self._raw_bdp
        if serving:  # first tokens say how many the server serves now: a sharper estimate
            target = min(self.window, max(serving, round(bdp or 0.0)))  # than the bdp
        else:
            target = self.window * self.backoff if bdp is None else min(self.window, round(bdp))
        if trial:
            target = self._start_trial(now, level, starting, streaming, before, target, bdp)
        self.window = max(float(self.minimum), float(target))
        return self._apply("queue")

    def _start_trial(
        self,
        now: float,
        level: float,
        starting: bool,
        streaming: bool,
        before: float | None,
        target: float,
        bdp: float | None,
    ) -> float:
        """Make the drain from `level` to `target` a trial (`scheduler.jitter`) if it can tell
        a queue from jitter; return the level to drain to.

        Only a drain well below the level it left can tell: a queue's latency falls with the
        level, jitter's does not. One that would leave the level as it was (the same signal
        again) goes that far down to find out, when the newest sample is itself inflated (not
        on an average still high from before) and the old level's mean is known; so does
        fast start's exit (two slow samples in a row, before any jitter is known).
        """
        trial_at = math.floor(QUEUE_FALL * math.floor(level))
        last = self._ratios.last(streaming)
        inflated = last is not None and last > self.tolerance * self._jitter_of(streaming)
        if math.floor(target) >= math.floor(level) and inflated and before is not None:
            target = max(trial_at, self.minimum)
        elif starting and before is not None and target > trial_at:
            # Fast start's exit on two slow samples, before any jitter is known: a drain
            # too shallow to tell left a jittery server below its capacity for good.
            target = max(trial_at, self.minimum)
        if trial_at >= max(1, self.minimum) and target <= trial_at:
            # Above the bdp's floor, the drained level may still be above the capacity (the
            # delivered rate reads a little high): latency that stays up then says nothing.
            below = bdp is None or target <= math.floor(bdp)
            self._trial = DrainTrial.after(now, level, starting, streaming, before, target, below)
        return target

    def _judge(self) -> int:
        """The last drain's requests are back: jitter, if they are as slow as before it."""
        trial = self._trial
        if trial is None or not trial.decided:
            return self._limit
        self._trial = None
        after = trial.mean(trial.ttft)
        fell = trial.before is None or after is None or after < QUEUE_FALL * trial.before
        if fell or not trial.below_capacity:
            return self._limit  # latency fell with the level (a queue, drained), or may have
        # As slow with fewer out: that is how much this server varies unloaded, no queue.
        if (whole := trial.mean(False)) is not None:
            self.jitter = min(JITTER_MAX, max(1.0, whole))
        if (first := trial.mean(True)) is not None:
            self.jitter_ttft = min(JITTER_MAX, max(1.0, first))
        self.window = max(self.window, trial.level)  # undo the drain
        self.starting, self._inflated = trial.starting, 0
        return self._apply("jitter")

    def _apply(self, reason: str) -> int:
        self.window = min(max(self.window, float(self.minimum)), float(self.maximum))
        wanted = math.floor(self.window)
        if self._listen_old is not None:
            wanted = min(wanted, self._listen_old + 1)
        return self._set(wanted, reason)
