"""How real servers word a refusal: bodies, `retry-after` styles and rate-limit header families.

Each builder reproduces one recorded shape; the profile table (`profiles.py`) picks them.
Captures each shape comes from are named in the docstrings, so a reader can check them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .limits import format_duration

__all__ = [
    "BucketView",
    "Refused",
    "anthropic_headers",
    "azure_headers",
    "openai_headers",
    "whole_seconds",
]

_OPENAI_LIMITS_URL = "https://platform.openai.com/account/rate-limits"
_ANTHROPIC_LIMITS_URL = "https://docs.anthropic.com/en/api/rate-limits"


@dataclass(frozen=True, slots=True)
class Refused:
    """What a refusal body may say: which limit, its numbers, the wait and the request."""

    kind: str  # "requests" | "tokens" | "burst" (a 429 window) | "capacity"
    limit: int | None
    used: int
    requested: int
    wait_s: float
    model: str
    request_id: str


@dataclass(frozen=True, slots=True)
class BucketView:
    """One rate bucket as the headers report it: `name` is "requests" or "tokens"."""

    name: str
    limit: int
    remaining: int
    reset_s: float


def whole_seconds(wait_s: float) -> int:
    """A wait as the integer seconds real servers write (never 0 for a real wait)."""
    return max(1, math.ceil(wait_s))


def fraction_seconds(wait_s: float) -> str:
    """`0.25`, `1.5`: the simulator's own fractional `retry-after` (rounded up to 1 ms)."""
    return f"{math.ceil(wait_s * 1000) / 1000:.3f}".rstrip("0").rstrip(".")


# --- bodies ---------------------------------------------------------------------------------


def sim_rate_body(r: Refused) -> dict[str, Any]:
    """The simulator's historic 429 body (the default profile)."""
    limit = f"Limit {r.limit}" if r.limit is not None else "burst window"
    kind = "requests" if r.kind == "burst" else r.kind
    message = (
        f"Rate limit reached for {kind} per min: {limit}. Please try again in {r.wait_s:.3f}s."
    )
    return {"error": {"message": message, "type": kind, "code": "rate_limit_exceeded"}}


def sim_overflow_body(r: Refused) -> dict[str, Any]:
    message = "The engine is currently overloaded."
    return {"error": {"message": message, "type": "overloaded", "code": "overloaded"}}


def openai_rate_body(r: Refused) -> dict[str, Any]:
    """openai/codex#88 (tokens), ecoute#194 (requests): type `requests|tokens`."""
    kind = "tokens" if r.kind == "tokens" else "requests"
    per = "tokens per min (TPM)" if kind == "tokens" else "requests per min (RPM)"
    limit = r.limit if r.limit is not None else r.used
    message = (
        f"Rate limit reached for {r.model} in organization org-postgensim on {per}: "
        f"Limit {limit}, Used {r.used}, Requested {r.requested}. "
        f"Please try again in {format_duration(r.wait_s)}. "
        f"Visit {_OPENAI_LIMITS_URL} to learn more."
    )
    error = {"message": message, "type": kind, "param": None, "code": "rate_limit_exceeded"}
    return {"error": error}


def openai_too_large_body(r: Refused) -> dict[str, Any]:
    """A request above the whole TPM limit (vanderschaarlab/climb#1): no retry can succeed."""
    message = (
        f"Request too large for {r.model} in organization org-postgensim on tokens per min "
        f"(TPM): Limit {r.limit}, Requested {r.requested}. The input or output tokens must be "
        f"reduced in order to run successfully. Visit {_OPENAI_LIMITS_URL} to learn more."
    )
    error = {"message": message, "type": "tokens", "param": None, "code": "rate_limit_exceeded"}
    return {"error": error}


def openai_overflow_body(r: Refused) -> dict[str, Any]:
    """503 capture, ikechan8370/chatgpt-plugin#125: `type: server_error`, `code: null`."""
    message = (
        "That model is currently overloaded with other requests. You can retry your request, "
        "or contact us through our help center at help.openai.com if the error persists. "
        f"(Please include the request ID {r.request_id} in your message.)"
    )
    return {"error": {"message": message, "type": "server_error", "param": None, "code": None}}


def azure_rate_body(r: Refused) -> dict[str, Any]:
    """climb#1 / sample-app-aoai-chatGPT#131: `code` is the string "429", no `type`."""
    which = "token rate limit" if r.kind == "tokens" else "call rate limit"
    message = (
        "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version "
        f"2024-08-01-preview have exceeded {which} of your current OpenAI S0 pricing tier. "
        f"Please retry after {_seconds_text(r.wait_s)}. Please go here: "
        "https://aka.ms/oai/quotaincrease if you would like to further increase the default "
        "rate limit."
    )
    return {"error": {"code": "429", "message": message}}


def azure_overflow_body(r: Refused) -> dict[str, Any]:
    """Peak-load shedding (pollinations#6260), also a 429 with `code` "429"."""
    message = (
        "The system is currently experiencing high demand and cannot process your request. "
        "Your request exceeds the maximum usage size allowed during peak load. "
        f"Please retry after {_seconds_text(r.wait_s)}."
    )
    return {"error": {"code": "429", "message": message}}


def anthropic_rate_body(r: Refused) -> dict[str, Any]:
    """The OpenAI-compatible endpoint (OpenManus#746): `code: rate_limit_error` with the odd
    `type: invalid_request_error`."""
    what = "input tokens" if r.kind == "tokens" else "requests"
    limit = f"{r.limit:,}" if r.limit is not None else "the current"
    message = (
        f"This request would exceed the rate limit for your organization of {limit} {what} "
        f"per minute. For details, refer to: {_ANTHROPIC_LIMITS_URL}. You can see the response "
        "headers for current usage. Please reduce the prompt length or the maximum tokens "
        "requested, or try again later."
    )
    error = {
        "code": "rate_limit_error",
        "message": message,
        "type": "invalid_request_error",
        "param": None,
    }
    return {"error": error}


def anthropic_overflow_body(r: Refused) -> dict[str, Any]:
    """529 (anthropic-sdk-typescript#616, claude-code#3628); no OpenAI-path capture exists,
    so the native body is used."""
    return {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


def bare_body(r: Refused) -> str:
    """What a gateway in front of a server answers: a status line and nothing to parse."""
    return "Too Many Requests\n"


def unavailable_body(r: Refused) -> str:
    return "Service Unavailable\n"


def ollama_overflow_body(r: Refused) -> dict[str, Any]:
    """server/sched.go ErrMaxQueue through the /v1 middleware (two spaces after the period)."""
    message = "server busy, please try again.  maximum pending requests exceeded"
    return {"error": {"message": message, "type": "api_error", "param": None, "code": None}}


def local_rate_body(r: Refused) -> dict[str, Any]:
    """A local server has no rate limits; a proxy in front answers this (OpenAI envelope)."""
    message = "Too many requests, please slow down."
    error = {"message": message, "type": "rate_limit_error", "param": None, "code": None}
    return {"error": error}


def vllm_error(status: int, message: str, type_: str = "BadRequestError") -> dict[str, Any]:
    """vLLM's envelope: `type` is an exception class name, `code` the HTTP status (an int)."""
    return {"error": {"message": message, "type": type_, "param": None, "code": status}}


def vllm_rate_body(r: Refused) -> dict[str, Any]:
    return vllm_error(429, "Too many requests, please slow down.", "RateLimitError")


def vllm_overflow_body(r: Refused) -> dict[str, Any]:
    return vllm_error(503, "The server is overloaded.", "ServiceUnavailableError")


def llamacpp_overflow_body(r: Refused) -> dict[str, Any]:
    """llama-cpp-python's only 503 ("Service is not available"), in its error envelope."""
    error = {
        "message": "Service is not available",
        "type": "internal_server_error",
        "param": None,
        "code": None,
    }
    return {"error": error}


def _seconds_text(wait_s: float) -> str:
    n = whole_seconds(wait_s)
    return f"{n} second" if n == 1 else f"{n} seconds"


# --- retry-after styles ---------------------------------------------------------------------


def no_retry_after(wait_s: float) -> dict[str, str]:
    return {}


def sim_retry_after(wait_s: float) -> dict[str, str]:
    """The default profile: fractional seconds plus milliseconds."""
    return {
        "retry-after": fraction_seconds(wait_s),
        "retry-after-ms": str(math.ceil(wait_s * 1000)),
    }


def seconds_retry_after(wait_s: float) -> dict[str, str]:
    return {"retry-after": str(whole_seconds(wait_s))}


def azure_retry_after(wait_s: float) -> dict[str, str]:
    """Azure-origin `retry-after-ms` (read first by openai-python) beside integer seconds."""
    return {
        "retry-after": str(whole_seconds(wait_s)),
        "retry-after-ms": str(math.ceil(wait_s * 1000)),
    }


def anthropic_retry_after(wait_s: float) -> dict[str, str]:
    return {"retry-after": str(whole_seconds(wait_s)), "x-should-retry": "true"}


def should_retry_only(wait_s: float) -> dict[str, str]:
    """Anthropic's 529 capture: `x-should-retry` and no `retry-after`."""
    return {"x-should-retry": "true"}


# --- rate-limit header families (sent on every chat answer) --------------------------------


def no_headers(buckets: Sequence[BucketView], wall: float) -> dict[str, str]:
    return {}


def openai_headers(buckets: Sequence[BucketView], wall: float) -> dict[str, str]:
    """`x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, resets as Go durations."""
    headers: dict[str, str] = {}
    for b in buckets:
        headers[f"x-ratelimit-limit-{b.name}"] = str(b.limit)
        headers[f"x-ratelimit-remaining-{b.name}"] = str(b.remaining)
        headers[f"x-ratelimit-reset-{b.name}"] = format_duration(b.reset_s)
    return headers


def azure_headers(buckets: Sequence[BucketView], wall: float) -> dict[str, str]:
    """Only `x-ratelimit-remaining-*` (Azure-Samples/azure-rest-api-specs#26884)."""
    return {f"x-ratelimit-remaining-{b.name}": str(b.remaining) for b in buckets}


def anthropic_headers(buckets: Sequence[BucketView], wall: float) -> dict[str, str]:
    """`anthropic-ratelimit-*` with RFC 3339 resets (whoz-oss/coday#110).

    The simulator has one token budget for input and output, so the `tokens`,
    `input-tokens` and `output-tokens` families all report it."""
    headers: dict[str, str] = {}
    for b in buckets:
        families = ("tokens", "input-tokens", "output-tokens") if b.name == "tokens" else (b.name,)
        for family in families:
            headers[f"anthropic-ratelimit-{family}-limit"] = str(b.limit)
            headers[f"anthropic-ratelimit-{family}-remaining"] = str(b.remaining)
            headers[f"anthropic-ratelimit-{family}-reset"] = rfc3339(wall + b.reset_s)
    return headers


def rfc3339(epoch_s: float) -> str:
    """UTC, `Z` suffix, whole seconds rounded up: `2025-06-02T15:14:45Z`."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(math.ceil(epoch_s)))


# --- general error envelopes (bad request, unknown model, ...) -----------------------------


def sim_envelope(
    status: int, message: str, type_: str, param: str | None, code: str | None
) -> dict[str, Any]:
    """The simulator's historic envelope: no `param`."""
    return {"error": {"message": message, "type": type_, "code": code}}


def openai_envelope(
    status: int, message: str, type_: str, param: str | None, code: str | None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


_VLLM_TYPES = {400: "BadRequestError", 404: "NotFoundError", 429: "RateLimitError"}


def vllm_envelope(
    status: int, message: str, type_: str, param: str | None, code: str | None
) -> dict[str, Any]:
    type_name = _VLLM_TYPES.get(status, "InternalServerError")
    return {"error": {"message": message, "type": type_name, "param": param, "code": status}}


_OLLAMA_TYPES = {400: "invalid_request_error", 404: "not_found_error"}


def ollama_envelope(
    status: int, message: str, type_: str, param: str | None, code: str | None
) -> dict[str, Any]:
    """middleware/openai.go NewError: `type` from the status, `code` always null."""
    type_name = _OLLAMA_TYPES.get(status, "api_error")
    return {"error": {"message": message, "type": type_name, "param": None, "code": None}}
