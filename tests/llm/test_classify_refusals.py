"""Classification of real 429/503/529 answers: refusals slow down, they never fail an item."""

from __future__ import annotations

import json

import httpx
import pytest

from postgen.errors import LLMError, Overloaded, RateLimited, Timeout
from postgen.llm.classify import feedback, verdict_for
from postgen.llm.client import error_for_response
from postgen.llm.types import Completion, Usage
from scheduler import Kind, Verdict

OPENAI_TPM = {
    "error": {
        "message": "Rate limit reached for o4-mini in organization org-x on tokens per min "
        "(TPM): Limit 200000, Used 162960, Requested 42288. Please try again in 1.574s.",
        "type": "tokens",
        "param": None,
        "code": "rate_limit_exceeded",
    }
}
OPENAI_TOO_LARGE = {
    "error": {
        "message": "Request too large for gpt-4o in organization org-x on tokens per min (TPM): "
        "Limit 30000, Requested 30601. The input or output tokens must be reduced.",
        "type": "tokens",
        "param": None,
        "code": "rate_limit_exceeded",
    }
}
OPENAI_QUOTA = {
    "error": {
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "type": "insufficient_quota",
        "param": None,
        "code": "insufficient_quota",
    }
}
AZURE_429 = {"error": {"code": "429", "message": "Rate limit is exceeded. Try again in 2 seconds."}}
ANTHROPIC_429 = {
    "type": "error",
    "error": {
        "type": "rate_limit_error",
        "message": "This request would exceed your account's rate limit. Please try again later.",
    },
    "request_id": "req_011CaXnEVwn7CTN8eP8wBon4",
}
ANTHROPIC_529 = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


def _verdict(
    status: int, body: object, headers: dict[str, str] | None = None
) -> tuple[LLMError, Verdict]:
    exc = error_for_response(status, httpx.Headers(headers or {}), json.dumps(body).encode())
    return exc, verdict_for(exc)


def test_openai_tpm_429_is_a_refusal_with_the_wait_from_its_message() -> None:
    exc, v = _verdict(429, OPENAI_TPM)
    assert isinstance(exc, RateLimited)
    assert v.kind is Kind.DROP and v.retry_after == pytest.approx(1.574)


def test_a_request_too_large_for_the_tpm_fails_that_item_only() -> None:
    _, v = _verdict(429, OPENAI_TOO_LARGE)
    assert v.kind is Kind.FAIL and v.reason == "too_large"


def test_insufficient_quota_stops_the_run() -> None:
    _, v = _verdict(429, OPENAI_QUOTA)
    assert v.kind is Kind.FATAL


def test_azure_429_reads_retry_after_ms_first_then_the_message() -> None:
    _, v = _verdict(429, AZURE_429, {"retry-after-ms": "1500"})
    assert v.kind is Kind.DROP and v.retry_after == 1.5
    _, v = _verdict(429, AZURE_429)
    assert v.retry_after == 2.0


def test_anthropic_429_with_retry_after_and_a_bare_one() -> None:
    _, v = _verdict(429, ANTHROPIC_429, {"retry-after": "16"})
    assert v.kind is Kind.DROP and v.retry_after == 16.0
    _, v = _verdict(429, ANTHROPIC_429)
    assert v.kind is Kind.DROP and v.retry_after is None


@pytest.mark.parametrize("status", [503, 529])
def test_503_and_529_are_refusals(status: int) -> None:
    exc, v = _verdict(status, ANTHROPIC_529)
    assert isinstance(exc, Overloaded)
    assert v.kind is Kind.DROP and v.reason == "overloaded"


@pytest.mark.parametrize(
    ("headers", "wait"),
    [({"retry-after": "7"}, 7.0), ({"retry-after-ms": "250", "retry-after": "1"}, 0.25)],
)
@pytest.mark.parametrize("status", [503, 529])
def test_a_503_or_529_carrying_a_retry_after_keeps_it(
    status: int, headers: dict[str, str], wait: float
) -> None:
    exc, v = _verdict(status, ANTHROPIC_529, headers)
    assert isinstance(exc, Overloaded) and exc.retry_after == wait
    assert v.kind is Kind.DROP and v.retry_after == wait and not v.throttled


def test_a_503_states_its_wait_in_the_message_or_not_at_all() -> None:
    _, v = _verdict(503, {"error": {"message": "Overloaded, try again in 3 seconds."}})
    assert v.retry_after == 3.0
    _, v = _verdict(503, ANTHROPIC_529, {"retry-after": "soon"})
    assert v.retry_after is None


def test_a_503_does_not_wait_out_the_quota_s_reset() -> None:
    # The quota's headers ride on every answer; a reset of an exhausted limit is a 429's wait,
    # but a 503 was refused for capacity, and the quota's reset is not when that frees.
    headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s"}
    _, v = _verdict(503, ANTHROPIC_529, headers)
    assert v.retry_after is None
    _, v = _verdict(429, ANTHROPIC_429, headers)
    assert v.retry_after == 360.0


def test_garbage_retry_after_is_treated_as_absent() -> None:
    _, v = _verdict(429, {"error": {"message": "slow down"}}, {"retry-after": "garbage"})
    assert v.kind is Kind.DROP and v.retry_after is None


def test_timeouts_are_refusals() -> None:
    assert verdict_for(Timeout("no answer")).kind is Kind.DROP
    assert verdict_for(TimeoutError()).kind is Kind.DROP


def test_feedback_carries_input_tokens_and_a_streamed_ttft() -> None:
    done = Completion("hi", Usage(120, 8), 0.5, "m", {"x-ratelimit-limit-requests": "60"})
    fb = feedback(done)
    assert (fb.input_tokens, fb.output_tokens, fb.ttft_s) == (120, 8, None)
    assert fb.limits is not None and fb.limits.limit_requests == 60


def test_a_prompt_over_the_context_window_fails_its_item_only() -> None:
    class ContextTooLong(LLMError):  # the client's class for HTTP 400 context_length_exceeded
        reason = "context_length"

    assert verdict_for(ContextTooLong("prompt too long", status=400)).kind is Kind.FAIL


def test_a_stalled_reply_is_a_refusal_keeping_its_reason() -> None:
    class Stalled(Timeout):
        reason = "stalled"

    v = verdict_for(Stalled("no bytes for 30 s"))
    assert v.kind is Kind.DROP and v.reason == "stalled"
