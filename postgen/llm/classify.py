"""Outcomes, classified once: LLM errors mapped to what the scheduler should do."""

from __future__ import annotations

from typing import Any

from postgen.errors import (
    FatalLLMError,
    LLMError,
    Overloaded,
    RateLimited,
    Timeout,
)
from postgen.llm.headers import server_limits
from postgen.llm.types import Completion
from scheduler import Feedback, Kind, Verdict

__all__ = ["feedback", "verdict_for"]


def verdict_for(exc: BaseException) -> Verdict:
    """What an exception from one attempt means for limits and retries."""
    if isinstance(exc, RateLimited):
        return Verdict(Kind.DROP, exc.reason, retry_after=exc.retry_after, throttled=True)
    if isinstance(exc, Overloaded | Timeout | TimeoutError):
        return Verdict(Kind.DROP, "overloaded" if isinstance(exc, Overloaded) else "timeout")
    if isinstance(exc, FatalLLMError):
        return Verdict(Kind.FATAL, exc.reason)
    if isinstance(exc, LLMError):  # 5xx, refused connections, malformed bodies
        return Verdict(Kind.RETRY, exc.reason)
    return Verdict(Kind.FAIL, "error")


def feedback(result: Any) -> Feedback:
    """What a successful completion tells the scheduler."""
    if not isinstance(result, Completion):
        return Feedback()
    return Feedback(
        output_tokens=result.usage.output_tokens,
        total_tokens=result.usage.total_tokens,
        limits=None if result.cached else server_limits(result.headers),
    )
