"""Per-stage bookkeeping of a run, fed by the scheduler's observer callbacks."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from postgen.config import STAGES
from postgen.llm.negotiate import FormNegotiator
from postgen.llm.text import MAX_MESSAGE_CHARS, clip, one_line
from postgen.llm.types import Completion
from scheduler import Verdict

__all__ = ["RunStats", "StageStats", "candidate_lengths"]


@dataclass
class StageStats:
    name: str
    items: int = 0
    succeeded: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    cached: int = 0
    rate_limited: int = 0
    retries: int = 0
    reasks: int = 0
    repairs: int = 0
    clamped: int = 0  # values a stage repaired into range (e.g. a score of 11), never silently
    truncated: int = 0  # replies that stopped at max_tokens (finish_reason "length")
    models: dict[str, int] = field(default_factory=dict)  # the ids that answered, counted
    ttfts: list[float] = field(default_factory=list)  # streaming: send to first token
    input_tokens: int = 0
    output_tokens: int = 0
    latencies: list[float] = field(default_factory=list)
    inflight: int = 0
    max_concurrency_reached: int = 0
    started_at: float | None = None
    finished_at: float | None = None

    def record_success(self, completion: Completion) -> None:
        self.input_tokens += completion.usage.input_tokens
        self.output_tokens += completion.usage.output_tokens
        self.truncated += completion.truncated
        self.models[completion.model] = self.models.get(completion.model, 0) + 1
        if completion.ttft_s is not None:
            self.ttfts.append(completion.ttft_s)

    def record_cached(self, completion: Completion) -> None:
        self.cached += 1

    def record_item(self, item: str, error: BaseException | None) -> None:
        if error is None:
            self.succeeded += 1
        else:
            self.failures.append({"item": item, "reason": describe_failure(error)})

    def touch(self) -> None:
        now = time.monotonic()
        self.started_at = self.started_at if self.started_at is not None else now
        self.finished_at = now

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def wall_seconds(self) -> float:
        if self.started_at is None or self.finished_at is None:
            return 0.0
        return self.finished_at - self.started_at

    def latency_quantile(self, q: float) -> float | None:
        if not self.latencies:
            return None
        if len(self.latencies) == 1:
            return self.latencies[0]
        cuts = statistics.quantiles(self.latencies, n=100, method="inclusive")
        return cuts[min(98, max(0, round(q * 100) - 1))]

    def as_dict(self) -> dict[str, Any]:
        p50, p95 = self.latency_quantile(0.5), self.latency_quantile(0.95)
        return {
            "items": self.items,
            "succeeded": self.succeeded,
            "failed": sorted(self.failures, key=_item_order),
            "requests": self.requests,
            "cached": self.cached,
            "rate_limited": self.rate_limited,
            "retries": self.retries,
            "reasks": self.reasks,
            "repairs": self.repairs,
            "clamped": self.clamped,
            "truncated": self.truncated,
            "models_answered": dict(sorted(self.models.items())),
            "ttft_p50_s": _median(self.ttfts),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "latency_p50_s": None if p50 is None else round(p50, 4),
            "latency_p95_s": None if p95 is None else round(p95, 4),
            "max_concurrency_reached": self.max_concurrency_reached,
            "wall_seconds": round(self.wall_seconds, 3),
        }


class RunStats:
    """All stages' stats; implements the scheduler's Observer protocol."""

    def __init__(self) -> None:
        self.stages = {name: StageStats(name) for name in STAGES}
        self.limit_changes: list[tuple[float, int]] = []
        self.negotiation: FormNegotiator | None = None  # the endpoint's structured-output form

    def llm_record(self) -> dict[str, Any]:
        """run.json's `llm`: the structured-output form in use, what was refused, who answered."""
        answered: dict[str, int] = {}
        for st in self.stages.values():
            for model, n in st.models.items():
                answered[model] = answered.get(model, 0) + n
        return {
            "structured_output": None if self.negotiation is None else self.negotiation.record(),
            "models_answered": dict(sorted(answered.items())),
            "truncated": sum(st.truncated for st in self.stages.values()),
        }

    def __getitem__(self, stage: str) -> StageStats:
        return self.stages[stage]

    def on_limit_change(self, name: str, old: int, new: int, reason: str) -> None:
        self.limit_changes.append((time.monotonic(), new))

    def on_gate(self, name: str, closed: bool, wait_s: float) -> None:
        pass

    def on_dispatch(self, stage: str, inflight: int) -> None:
        st = self.stages[stage]
        st.touch()
        st.requests += 1
        st.inflight = inflight
        st.max_concurrency_reached = max(st.max_concurrency_reached, inflight)

    def on_complete(self, stage: str, verdict: Verdict, latency_s: float, inflight: int) -> None:
        st = self.stages[stage]
        st.touch()
        st.inflight = inflight
        st.latencies.append(latency_s)
        if verdict.reason == "rate_limited":
            st.rate_limited += 1

    def on_retry(self, stage: str, attempt: int, reason: str, wait_s: float) -> None:
        self.stages[stage].retries += 1

    def on_wait(self, stage: str, cause: str, seconds: float) -> None:
        pass

    def total_requests(self) -> int:
        return sum(s.requests for s in self.stages.values())

    def total_tokens(self) -> int:
        return sum(s.input_tokens + s.output_tokens for s in self.stages.values())

    def total_replayed(self) -> int:
        """Calls answered from the store instead of the endpoint (nothing sent, nothing paid)."""
        return sum(s.cached for s in self.stages.values())

    def replayed_fraction(self) -> float:
        """Of all calls the run made, the share replayed from the store (0 with no calls)."""
        replayed = self.total_replayed()
        calls = replayed + self.total_requests()
        return replayed / calls if calls else 0.0


def candidate_lengths(words: list[int], truncated: int, target: int) -> dict[str, Any]:
    """run.json's `candidates_length`: how long the candidates came out against brief.words
    (a short one is under half the target, a long one over one and a half times it)."""
    return {
        "target_words": target,
        "words": words,
        "short": sum(1 for w in words if w < target / 2),
        "long": sum(1 for w in words if w > target * 1.5),
        "truncated": truncated,
    }


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 4) if values else None


def describe_failure(error: BaseException) -> str:
    """One line for run.json: the last underlying error (the server's whole message, already
    redacted and cut by the client), never a traceback."""
    last = getattr(error, "last", None)
    cause = last if isinstance(last, BaseException) else error
    text = one_line(str(cause)) or _unnamed(cause, getattr(error, "stage", None))
    reason = getattr(cause, "reason", None) or type(cause).__name__
    prefix = "retries exhausted: " if last is not None else ""
    return clip(f"{prefix}{reason}: {text}", MAX_MESSAGE_CHARS + 200)


def _unnamed(cause: BaseException, stage: object) -> str:
    if isinstance(cause, TimeoutError):  # the lane's hang guard, behind the client's bounds
        setting = f"stage.{stage}.retry.timeout_s" if isinstance(stage, str) else "the timeout"
        return f"no answer within the attempt's bound ({setting}, plus a few seconds' grace)"
    return type(cause).__name__


def _item_order(failure: dict[str, Any]) -> tuple[int, str]:
    """Failures in input order ("2" before "10"), whatever order they happened in."""
    item = str(failure.get("item", ""))
    head = item.split("/", 1)[0]
    return (int(head) if head.isdigit() else 1 << 30, item)
