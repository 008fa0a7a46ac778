"""Outcomes, classified once: LLM errors mapped to what the scheduler should do.

Every refusal (429, 503, 529, a timeout) is a DROP: a signal to slow down, retried until the
item's deadline, never a reason to fail it. Its wait comes from the headers (the client reads
them) or, failing that, from the message ("Please try again in 1.574s"). Two 429s are not
refusals: `insufficient_quota` (the client raises QuotaExceeded: fatal) and OpenAI's "Request
too large" for the TPM limit, which no retry can pass (FAIL: this item only).
"""

from __future__ import annotations

from typing import Any

from postgen.errors import (
    FatalLLMError,
    LLMError,
    Overloaded,
    RateLimited,
    Timeout,
)
from postgen.llm.headers import retry_after_from_message, server_limits
from postgen.llm.types import Completion
from scheduler import Feedback, Kind, Verdict

__all__ = ["feedback", "verdict_for"]

_TOO_LARGE = "request too large"
_ITEM_ONLY = frozenset({"context_length"})  # ContextTooLong: the prompt exceeds the window


def verdict_for(exc: BaseException) -> Verdict:
    """What an exception from one attempt means for limits and retries."""
    if isinstance(exc, RateLimited):
        if _TOO_LARGE in str(exc).lower():
            return Verdict(Kind.FAIL, "too_large")
        return Verdict(Kind.DROP, exc.reason, retry_after=_wait(exc), throttled=True)
    if isinstance(exc, Overloaded):
        return Verdict(Kind.DROP, "overloaded", retry_after=_wait(exc))
    if isinstance(exc, Timeout):
        return Verdict(Kind.DROP, exc.reason)  # "timeout", or "stalled" mid-reply
    if isinstance(exc, TimeoutError):
        return Verdict(Kind.DROP, "timeout")
    if isinstance(exc, FatalLLMError):
        return Verdict(Kind.FATAL, exc.reason)
    if isinstance(exc, LLMError) and exc.reason in _ITEM_ONLY:
        return Verdict(Kind.FAIL, exc.reason)  # this prompt can never pass: fail the item
    if isinstance(exc, LLMError):  # 5xx, refused connections, malformed bodies
        return Verdict(Kind.RETRY, exc.reason)
    return Verdict(Kind.FAIL, "error")


def _wait(exc: LLMError) -> float | None:
    """The server's wait: Retry-After as the client read it, else one stated in the message."""
    stated = getattr(exc, "retry_after", None)
    if isinstance(stated, int | float):
        return float(stated)
    return retry_after_from_message(str(exc))


def feedback(result: Any) -> Feedback:
    """What a successful completion tells the scheduler."""
    if not isinstance(result, Completion):
        return Feedback()
    ttft = getattr(result, "ttft_s", None)  # set by a streaming client, when it has one
    return Feedback(
        output_tokens=result.usage.output_tokens,
        total_tokens=result.usage.total_tokens,
        limits=None if result.cached else server_limits(result.headers),
        ttft_s=ttft if isinstance(ttft, float) else None,
        input_tokens=result.usage.input_tokens,
    )
