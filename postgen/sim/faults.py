"""Deterministic fault draws: the same (seed, request number) always gets the same fault."""

from __future__ import annotations

import enum
import random

from .config import SimConfig

__all__ = ["Fault", "burst_429_left", "draw_fault", "slowness", "truncate_json"]


class Fault(enum.Enum):
    NONE = "none"
    ERROR = "error"
    HANG = "hang"
    MALFORMED = "malformed"
    STALL = "stall"  # a stream goes silent after its first token (a non-streamed answer: none)


def draw_fault(config: SimConfig, counter: int) -> Fault:
    """One draw per fault kind, in a fixed order, from `Random(f"{seed}:{counter}")`."""
    rng = random.Random(f"fault:{config.seed}:{counter}")
    error, hang, malformed = rng.random(), rng.random(), rng.random()
    stall = rng.random()  # drawn last, so adding it changed none of the earlier draws
    if error < config.error_rate:
        return Fault.ERROR
    if hang < config.hang_rate:
        return Fault.HANG
    if malformed < config.malformed_rate:
        return Fault.MALFORMED
    if stall < config.stall_rate:
        return Fault.STALL
    return Fault.NONE


def slowness(config: SimConfig, content: str) -> float:
    """How much slower than its size says the reply `content` comes (`jitter`; 1 = not).

    Drawn from the reply, not the request's number: a retry of the same request is as slow,
    so a benchmark can compute the time the server spent (its lower bound) exactly.
    """
    if config.jitter == 0:
        return 1.0
    return 1.0 + config.jitter * random.Random(f"jitter:{config.seed}:{content}").random()


def burst_429_left(config: SimConfig, elapsed_s: float) -> float:
    """Seconds left in the current 429 burst window (0 = not in one).

    Windows open every `burst_429_every_s` seconds after start and last `burst_429_len_s`.
    """
    every = config.burst_429_every_s
    if every is None or config.burst_429_len_s <= 0 or elapsed_s < every:
        return 0.0
    into = elapsed_s % every
    return max(0.0, config.burst_429_len_s - into)


def truncate_json(text: str, counter: int) -> str:
    """Cut a JSON text somewhere in its middle so that it no longer parses."""
    rng = random.Random(f"malformed:{counter}")
    cut = max(1, int(len(text) * rng.uniform(0.3, 0.8)))
    return text[:cut]
