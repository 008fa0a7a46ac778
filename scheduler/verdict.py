"""How one call ended, as the scheduler sees it, and what a successful call tells it."""

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Feedback", "Kind", "ServerLimits", "Verdict"]


class Kind(StrEnum):
    """Outcome class of one attempt."""

    SUCCESS = "success"
    DROP = "drop"  # capacity signal (429, 503, timeout): cut the limit, retry
    RETRY = "retry"  # transient, no capacity signal (500, reset, bad output): retry
    FAIL = "fail"  # this item fails now, no retry
    FATAL = "fatal"  # abort the whole run


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """Limits the server states in `x-ratelimit-*` headers; any field may be None."""

    limit_requests: int | None = None
    remaining_requests: int | None = None
    reset_requests_s: float | None = None
    limit_tokens: int | None = None
    remaining_tokens: int | None = None
    reset_tokens_s: float | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """Classified outcome of one attempt; `reason` is a bounded label."""

    kind: Kind
    reason: str
    retry_after: float | None = None
    limits: ServerLimits | None = None
    throttled: bool = False  # a rate limit (429), not a capacity limit: teaches the pacer

    @property
    def retryable(self) -> bool:
        """Whether another attempt may succeed."""
        return self.kind in (Kind.DROP, Kind.RETRY)

    @property
    def server_paced(self) -> bool:
        """A refusal with a Retry-After: its retry waits at the gate and costs no retry budget."""
        return self.kind is Kind.DROP and self.retry_after is not None


@dataclass(frozen=True, slots=True)
class Feedback:
    """What a successful call tells the scheduler."""

    output_tokens: int = 0
    total_tokens: int = 0
    limits: ServerLimits | None = None
    ttft_s: float | None = None  # time to first token, when the call streamed and knew it
    input_tokens: int = 0
