"""One simulator's mutable state: limits in force, the gate, counters; the loop thread owns it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from .config import SimConfig
from .limits import CapacityGate, TokenBucket
from .profiles import Profile, profile_named
from .stats import Stats

__all__ = ["State"]


@dataclass(slots=True)
class State:
    config: SimConfig
    profile: Profile
    loop: asyncio.AbstractEventLoop
    start: float
    stats: Stats
    gate: CapacityGate
    rpm: TokenBucket | None
    tpm: TokenBucket | None
    n_ctx: int | None  # None = no context window
    drop_fields: bool
    batch_slowdown: float
    interrupt_streams: bool  # a waiting request cuts the running stream short
    counter: int = 0  # requests past the rate limits (names completions, draws faults)
    serial: int = 0  # every chat request (names request ids, draws retry-after)

    @classmethod
    def create(cls, config: SimConfig) -> State:
        """Resolve the options left to the profile; must run inside the serving loop."""
        profile = profile_named(config.profile)
        loop = asyncio.get_running_loop()
        now = loop.time()
        stats = Stats(now)
        capacity = config.capacity if config.capacity is not None else profile.capacity
        queue: int | None = profile.queue if config.queue is None else config.queue
        if queue == -1:
            queue = None
        n_ctx = config.n_ctx if config.n_ctx is not None else profile.n_ctx
        drops = config.schemaless_drops_fields
        slowdown = config.batch_slowdown
        interrupt = config.interrupt_requests
        return cls(
            config=config,
            profile=profile,
            loop=loop,
            start=now,
            stats=stats,
            gate=CapacityGate(capacity, queue, stats.set_queued),
            rpm=TokenBucket(config.rpm, now, config.rate_burst_s) if config.rpm else None,
            tpm=TokenBucket(config.tpm, now, config.rate_burst_s) if config.tpm else None,
            n_ctx=n_ctx or None,
            drop_fields=profile.schemaless_drops_fields if drops is None else drops,
            batch_slowdown=profile.batch_slowdown if slowdown is None else slowdown,
            interrupt_streams=profile.interrupt_streams if interrupt is None else interrupt,
        )

    def now(self) -> float:
        return self.loop.time()

    def slowdown_factor(self) -> float:
        """How much slower each token is with this many requests in service (vLLM batching)."""
        return 1.0 + self.batch_slowdown * max(0, self.gate.in_service - 1)
