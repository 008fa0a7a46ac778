"""Simulator settings: `SimConfig`, `ScheduleStep` and the `--schedule` parser."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from .profiles import profile_named

__all__ = ["DEFAULT_MODELS", "ScheduleStep", "SimConfig", "parse_schedule"]

DEFAULT_MODELS: tuple[str, ...] = ("sim-1", "sim-large")
_STEP_KEYS = ("rpm", "tpm", "capacity")


@dataclass(frozen=True, slots=True)
class ScheduleStep:
    """At `at_s` real seconds after start, set limits (None = unchanged, 0 = unlimited)."""

    at_s: float
    rpm: int | None = None
    tpm: int | None = None
    capacity: int | None = None

    def __post_init__(self) -> None:
        if self.at_s < 0:
            raise ValueError(f"schedule step time must be >= 0, got {self.at_s}")
        for key in _STEP_KEYS:
            value = getattr(self, key)
            if value is not None and value < 0:
                raise ValueError(f"schedule {key} must be >= 0, got {value}")


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Every option of `python -m postgen.sim`; the defaults mean no limits and no faults.

    Rates (`rpm`, `tpm`), the schedule, burst windows and `hang_s` are in real seconds;
    `time_scale` only scales the simulated latency (`0` = answer at once).

    `profile` names how refusals, errors and streams look (`postgen.sim.profiles`). Options
    left at None take the profile's value: `capacity` (None there = unlimited), `queue`
    (-1 = unbounded), `n_ctx` (0 = no context window), `schemaless_drops_fields`,
    `batch_slowdown`, `interrupt_requests` (a request waiting for the slot ends a running
    stream with `[DONE]` and no finish_reason, as llama-cpp-python does by default).
    `rate_burst_s`: seconds of `rpm` / `tpm` their buckets hold when full (10: a sixth of the
    minute's limit; about 1 for a gateway that counts per second).
    `chunk_tokens`: content tokens per streamed chunk after the first (1, as OpenAI and vLLM
    send them; more keeps a client's per-chunk CPU out of a fast time-scale benchmark).
    `jitter`: each request's latency (time to first token and per-token time) is multiplied
    by `1 + jitter x u`, u uniform in [0, 1) drawn from the seed and the reply: the variance
    of a hosted API, which is not in a request's size (0: none).
    """

    profile: str = "sim"
    seed: int = 0
    time_scale: float = 1.0
    ttft_s: float = 0.3
    per_token_s: float = 0.01
    rpm: int | None = None
    tpm: int | None = None
    rate_burst_s: float = 10.0
    rate_headers: bool = True
    retry_after: bool = True
    capacity: int | None = None
    queue: int | None = None
    n_ctx: int | None = None
    schemaless_drops_fields: bool | None = None
    batch_slowdown: float | None = None
    interrupt_requests: bool | None = None
    chunk_tokens: int = 1
    schedule: tuple[ScheduleStep, ...] = ()
    error_rate: float = 0.0
    hang_rate: float = 0.0
    hang_s: float = 30.0
    stall_rate: float = 0.0
    jitter: float = 0.0
    malformed_rate: float = 0.0
    burst_429_every_s: float | None = None
    burst_429_len_s: float = 0.0
    api_key: str | None = None
    insufficient_quota: bool = False
    models: tuple[str, ...] = field(default=DEFAULT_MODELS)

    def __post_init__(self) -> None:
        for name in ("error_rate", "hang_rate", "malformed_rate", "stall_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        for name in ("time_scale", "ttft_s", "per_token_s", "hang_s", "burst_429_len_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.jitter <= 10.0:
            raise ValueError(f"jitter must be in [0, 10], got {self.jitter}")
        for name in ("rpm", "tpm", "capacity"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be > 0 or None, got {value}")
        if self.queue is not None and self.queue < -1:
            raise ValueError(f"queue must be >= 0 (or -1 = unbounded), got {self.queue}")
        if self.n_ctx is not None and self.n_ctx < 0:
            raise ValueError(f"n_ctx must be >= 0 (0 = no context window), got {self.n_ctx}")
        if self.batch_slowdown is not None and not 0 <= self.batch_slowdown <= 10:
            raise ValueError(f"batch_slowdown must be in [0, 10], got {self.batch_slowdown}")
        if not 0 < self.rate_burst_s <= 3600:
            raise ValueError(f"rate_burst_s must be in (0, 3600], got {self.rate_burst_s}")
        if not 1 <= self.chunk_tokens <= 10_000:
            raise ValueError(f"chunk_tokens must be in [1, 10000], got {self.chunk_tokens}")
        profile_named(self.profile)  # raises ValueError naming the choices
        if self.burst_429_every_s is not None and self.burst_429_every_s <= 0:
            raise ValueError(f"burst_429_every_s must be > 0, got {self.burst_429_every_s}")
        object.__setattr__(self, "schedule", tuple(sorted(self.schedule, key=lambda s: s.at_s)))
        object.__setattr__(self, "models", tuple(self.models))

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> SimConfig:
        """Build from plain values (a Hydra `llm.sim` node): `schedule` may be a string or a
        list of mappings, lists become tuples; unknown keys raise ValueError."""
        unknown = set(options) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown simulator option(s): {', '.join(sorted(unknown))}")
        values = dict(options)
        schedule = values.get("schedule")
        if isinstance(schedule, str):
            values["schedule"] = parse_schedule(schedule)
        elif schedule is not None:
            values["schedule"] = tuple(
                s if isinstance(s, ScheduleStep) else ScheduleStep(**s) for s in schedule
            )
        if values.get("models") is not None:
            values["models"] = tuple(values["models"])
        return cls(**values)


def parse_schedule(text: str) -> tuple[ScheduleStep, ...]:
    """Parse `"30:capacity=4,60:rpm=120"` (also `30:capacity=4;rpm=100`) into steps."""
    steps: list[ScheduleStep] = []
    current: dict[str, int] | None = None
    at_s = 0.0
    for raw in text.replace(";", ",").split(","):
        item = raw.strip()
        if not item:
            continue
        if ":" in item:
            if current is not None:
                steps.append(ScheduleStep(at_s, **current))
            head, item = item.split(":", 1)
            at_s = _number(head, text)
            current = {}
        if current is None:
            raise ValueError(f"schedule {text!r}: expected 'SECONDS:key=value'")
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in _STEP_KEYS:
            raise ValueError(f"schedule {text!r}: expected rpm|tpm|capacity=N, got {item!r}")
        current[key] = 0 if value.strip().lower() in ("none", "off") else int(value)
    if current is not None:
        steps.append(ScheduleStep(at_s, **current))
    return tuple(sorted(steps, key=lambda s: s.at_s))


def _number(value: str, text: str) -> float:
    try:
        return float(value.strip().removesuffix("s"))
    except ValueError:
        raise ValueError(f"schedule {text!r}: bad time {value!r}") from None
