"""A discrete-event model of one server and one client, to drive the control laws on
synthetic sequences: pure, virtual time, no asyncio, no sleeping.

The server: an optional concurrency cap C (beyond it: refuse, or queue FIFO), an optional
token-bucket request rate R (burst B; empty: refuse), optional Retry-After on refusals, a
capacity schedule. The client: the `DeliveryLimit` under test bounds in flight; a
`RateLearner` fed every send and refusal paces sends, one at a time at its rate, once a
slot is free (as the governor and lane do), and the limit hears each new pace; a refused
request is retried after `retry_s` (or the Retry-After), through the same limits.
"""

import heapq
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from scheduler import RateLearner, Sample
from scheduler.control import DeliveryLimit

RTT_S = 0.005  # network round trip: a refusal comes back this fast


@dataclass
class Server:
    capacity: int | None = None
    queue: bool = False  # beyond capacity: wait in FIFO order (True) or refuse (False)
    rate_per_s: float | None = None
    burst: float = 1.0
    retry_after_s: float | None = None
    schedule: tuple[tuple[float, int], ...] = ()  # (time, new capacity)
    streams: bool = False  # reports the first token (ttft_s after service starts)
    ttft_s: float = 0.1


@dataclass
class Job:
    kind: str
    tokens: int
    service_s: float
    ttft_factor: float = 1.0  # its first token comes this many x the server's ttft_s after start


@dataclass
class Outcome:
    makespan_s: float = 0.0
    attempts: int = 0
    refused: int = 0
    peak_held: int = 0  # at the server at once: in service plus queued
    peak_inflight: int = 0
    dispatched_at: list[float] = field(default_factory=list)  # first attempt of each job
    limits: list[tuple[float, int]] = field(default_factory=list)

    @property
    def refused_share(self) -> float:
        return self.refused / max(self.attempts, 1)

    def limit_after(self, t: float) -> list[int]:
        """The limit in effect at `t` and every value it took after."""
        before = [lim for at, lim in self.limits if at < t][-1:]
        return before + [lim for at, lim in self.limits if at >= t]


def bound(server: Server, jobs: list[Job]) -> float:
    """The lower bound: work / capacity, (W - B) / R, the longest job."""
    out = [max(j.service_s for j in jobs)]
    if server.capacity:
        work, t, cap = sum(j.service_s for j in jobs), 0.0, float(server.capacity)
        for at, new in server.schedule:
            if work <= (at - t) * cap:
                break
            work, t, cap = work - (at - t) * cap, at, float(new)
        out.append(t + work / cap)
    if server.rate_per_s:
        out.append(max(0.0, len(jobs) - server.burst) / server.rate_per_s)
    return max(out)


def drive(
    server: Server,
    jobs: list[Job],
    limit: DeliveryLimit | None = None,
    *,
    learner: RateLearner | None = None,
    retry_s: float = 0.05,
    horizon_s: float = 10_000.0,
) -> Outcome:
    limit = limit or DeliveryLimit()
    learner = learner if learner is not None else RateLearner()
    out = Outcome()
    seq = itertools.count()
    events: list[tuple[float, int, str, object]] = []
    now = 0.0
    pending: list[tuple[float, int, Job]] = [(0.0, i, j) for i, j in enumerate(jobs)]
    heapq.heapify(pending)  # (ready at, job id, job)
    first_sent: dict[int, float] = {}
    inflight = 0
    capacity = server.capacity
    serving = 0
    waiting: list[tuple[int, float, int, Job]] = []  # FIFO: (job id, sent_at, inflight, job)
    level = server.burst
    level_at = 0.0
    next_send = 0.0
    gate_until = 0.0
    done = 0

    def push(at: float, kind: str, data: object) -> None:
        heapq.heappush(events, (at, next(seq), kind, data))

    def bucket_take() -> bool:
        nonlocal level, level_at
        if server.rate_per_s is None:
            return True
        level = min(server.burst, level + (now - level_at) * server.rate_per_s)
        level_at = now
        if level >= 1.0:
            level -= 1.0
            return True
        return False

    def start_service(jid: int, sent: float, at_send: int, job: Job) -> None:
        nonlocal serving
        serving += 1
        if server.streams:
            push(now + server.ttft_s * job.ttft_factor, "ttft", (sent, job))
        push(now + job.service_s, "done", (jid, sent, at_send, job))

    def note_limit() -> None:
        if not out.limits or out.limits[-1][1] != limit.limit:
            out.limits.append((now, limit.limit))

    def send() -> None:
        nonlocal inflight, next_send
        while pending and pending[0][0] <= now and inflight < limit.limit and now >= gate_until:
            rate = learner.rate
            if rate is not None and now < next_send:
                push(next_send, "wake", None)
                return
            _, jid, job = heapq.heappop(pending)
            first_sent.setdefault(jid, now)
            inflight += 1
            out.attempts += 1
            limit.dispatched(now)
            if learner.on_send(now) != rate:  # a probe step on time, as the governor hears it
                limit.paced_at(learner.rate)
            out.peak_inflight = max(out.peak_inflight, inflight)
            if rate is not None:
                next_send = max(next_send, now) + 1.0 / rate
            push(now + RTT_S / 2, "arrive", (jid, now, inflight, job))
        if pending and pending[0][0] > now:
            push(pending[0][0], "wake", None)

    def refuse(jid: int, sent: float, at_send: int, job: Job) -> None:
        push(now + RTT_S / 2, "refused", (jid, sent, at_send, job))

    send()
    while events and now < horizon_s and done < len(jobs):
        now, _, kind, data = heapq.heappop(events)
        for at, new in server.schedule:
            if at <= now:
                capacity = new
        if kind == "arrive":
            jid, sent, at_send, job = data  # type: ignore[misc]
            full = capacity is not None and serving >= capacity
            if not bucket_take() or (full and not server.queue):
                refuse(jid, sent, at_send, job)
            elif full:
                waiting.append((jid, sent, at_send, job))
            else:
                start_service(jid, sent, at_send, job)
            out.peak_held = max(out.peak_held, serving + len(waiting))
        elif kind == "ttft":
            sent, job = data  # type: ignore[misc]
            limit.first_token(job.kind, sent, now - sent)
        elif kind == "done":
            jid, sent, at_send, job = data  # type: ignore[misc]
            serving -= 1
            while waiting and (capacity is None or serving < capacity):
                start_service(*waiting.pop(0))
            inflight -= 1
            done += 1
            ttft = None
            if server.streams:
                ttft = (now - sent) - job.service_s + server.ttft_s * job.ttft_factor
            limit.settled(sent)
            limit.update(Sample(now, now - sent, at_send, False, job.tokens, job.kind, ttft_s=ttft))
            before = learner.rate
            if learner.on_success(sent, now) != before:
                limit.paced_at(learner.rate)
        elif kind == "refused":
            jid, sent, at_send, job = data  # type: ignore[misc]
            inflight -= 1
            out.refused += 1
            limit.settled(sent)
            paced = limit.paced
            limit.update(Sample(now, now - sent, at_send, True, stage=job.kind, others=inflight))
            before = learner.rate
            learner.on_refused(sent)
            if limit.rate_signal or paced:
                learner.on_throttle(
                    sent, now, server.retry_after_s, limit.recent_rate(now), limit.rate_floor()
                )
            if learner.rate is not None and learner.rate != before:
                next_send = now + 1.0 / learner.rate  # a new pace starts with no burst
                limit.paced_at(learner.rate)
            wait = server.retry_after_s if server.retry_after_s is not None else retry_s
            if server.retry_after_s is not None:
                gate_until = max(gate_until, now + wait)
                push(gate_until, "wake", None)
            heapq.heappush(pending, (now + wait, jid, job))
        limit.tick(now, inflight)
        if (at := limit.next_tick()) is not None and at > now:
            push(at, "wake", None)
        note_limit()
        send()
    out.makespan_s = now
    out.dispatched_at = sorted(first_sent.values())
    return out


def jobs_of(n: int, service: Callable[[int], tuple[str, int, float]]) -> list[Job]:
    """`n` jobs of (kind, output tokens, service time) from `service(i)`."""
    return [Job(*service(i)) for i in range(n)]


def candidates(i: int) -> tuple[str, int, float]:
    """Long replies of varied length: 0.3 s + 10 ms per token, 130-380 tokens."""
    tokens = 130 + (i * 37) % 250
    return ("candidates", tokens, 0.3 + 0.01 * tokens)


def mixed(i: int) -> tuple[str, int, float]:
    """A pipeline's mix: long replies, and long prompts with short replies (slow to start)."""
    if i % 3 == 0:
        return candidates(i)
    tokens = 40 + (i * 13) % 40
    return ("score", tokens, 1.5 + 0.01 * tokens)  # prefill-heavy: slow per output token


def slow(i: int) -> tuple[str, int, float]:
    return ("candidates", 1500, 20.0)


def within(x: float, lo: float, hi: float) -> bool:
    return lo <= x <= hi and not math.isnan(x)
