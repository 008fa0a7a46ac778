"""Rate-limit headers from recorded real header sets: OpenAI, Azure OpenAI, Anthropic."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import httpx
import pytest

from postgen.llm.headers import (
    parse_duration,
    parse_reset,
    retry_after_from_message,
    retry_after_seconds,
    server_limits,
)

# A success from api.openai.com (community forum capture), trimmed to the limit headers.
OPENAI_OK = {
    "x-ratelimit-limit-requests": "5000",
    "x-ratelimit-limit-tokens": "160000",
    "x-ratelimit-limit-tokens_usage_based": "160000",
    "x-ratelimit-remaining-requests": "4999",
    "x-ratelimit-remaining-tokens": "159976",
    "x-ratelimit-remaining-tokens_usage_based": "159976",
    "x-ratelimit-reset-requests": "12ms",
    "x-ratelimit-reset-tokens": "9ms",
    "x-ratelimit-reset-tokens_usage_based": "9ms",
}
# OpenAI's documented example: a 6 minute token reset.
OPENAI_DOC = {
    "x-ratelimit-limit-requests": "60",
    "x-ratelimit-limit-tokens": "150000",
    "x-ratelimit-remaining-requests": "59",
    "x-ratelimit-remaining-tokens": "149984",
    "x-ratelimit-reset-requests": "1s",
    "x-ratelimit-reset-tokens": "6m0s",
}
# A 429 from Azure OpenAI (microsoft/copilot-camp#551): limits, no resets, no retry-after.
AZURE_429 = {
    "apim-request-id": "3d37de60-0000",
    "content-type": "application/json; charset=UTF-8",
    "x-envoy-upstream-service-time": "68",
    "x-ms-region": "North Central US",
    "x-ratelimit-limit-requests": "8",
    "x-ratelimit-limit-tokens": "8000",
    "x-ratelimit-remaining-requests": "7",
    "x-ratelimit-remaining-tokens": "1014",
}
# Azure: remaining only (azure-rest-api-specs#26884), the hyphenated reset (openai-python#937).
AZURE_REMAINING_ONLY = {
    "x-ratelimit-remaining-requests": "119",
    "x-ratelimit-remaining-tokens": "0",
    "x-rate-limit-reset-tokens": "55",
    "policy-id": "DeploymentRatelimit-Token",
}
# Azure Responses API sentinels (openai-dotnet#838): -1 is "unknown", not "none left".
AZURE_SENTINELS = {
    "x-ratelimit-limit-tokens": "-1",
    "x-ratelimit-remaining-tokens": "-1",
    "x-ratelimit-reset-tokens": "0",
}
# A native Anthropic 429 (whoz-oss/coday#110).
ANTHROPIC_429 = {
    "x-should-retry": "true",
    "anthropic-ratelimit-input-tokens-limit": "200000",
    "anthropic-ratelimit-input-tokens-remaining": "0",
    "anthropic-ratelimit-input-tokens-reset": "2025-06-02T15:15:48Z",
    "anthropic-ratelimit-output-tokens-limit": "80000",
    "anthropic-ratelimit-output-tokens-remaining": "80000",
    "anthropic-ratelimit-output-tokens-reset": "2025-06-02T15:14:45Z",
    "anthropic-ratelimit-requests-limit": "4000",
    "anthropic-ratelimit-requests-remaining": "4000",
    "anthropic-ratelimit-requests-reset": "2025-06-02T15:14:45Z",
    "retry-after": "16",
    "anthropic-ratelimit-tokens-limit": "280000",
    "anthropic-ratelimit-tokens-remaining": "80000",
    "anthropic-ratelimit-tokens-reset": "2025-06-02T15:14:45Z",
}
ANTHROPIC_NOW = datetime(2025, 6, 2, 15, 14, 29, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("12ms", 0.012),
        ("9ms", 0.009),
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("2.5s", 2.5),
        ("1m30.5s", 90.5),
        ("20ms", 0.02),
        ("1h2m3s", 3723.0),
        ("500us", 0.0005),
        ("55", 55.0),
    ],
)
def test_go_durations_and_bare_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["garbage", "", "-5", "nan", "inf", "1x", "s"])
def test_garbage_durations_are_absent(text: str) -> None:
    assert parse_duration(text) is None


def test_openai_success_headers() -> None:
    limits = server_limits(OPENAI_OK)
    assert limits is not None
    assert (limits.limit_requests, limits.remaining_requests) == (5000, 4999)
    assert (limits.limit_tokens, limits.remaining_tokens) == (160000, 159976)
    assert limits.reset_requests_s == pytest.approx(0.012)
    assert limits.reset_tokens_s == pytest.approx(0.009)


def test_openai_token_reset_is_not_a_wait_while_tokens_remain() -> None:
    limits = server_limits(OPENAI_DOC)
    assert limits is not None and limits.reset_tokens_s == 360.0
    assert retry_after_seconds(OPENAI_DOC) is None  # 6m0s is a full refill, not a wait


def test_a_wait_in_the_message_comes_before_an_exhausted_limits_reset() -> None:
    # OpenAI's 429 for an RPM limit: remaining 0, the reset of the whole bucket, no
    # retry-after, and the real wait in the message. Waiting out the reset idles the endpoint.
    headers = {
        "x-ratelimit-limit-requests": "3600",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "9.993s",
    }
    message = (
        "Rate limit reached for gpt-4o-mini in organization org-x on requests per min (RPM): "
        "Limit 3600, Used 3600, Requested 1. Please try again in 10ms."
    )
    assert retry_after_seconds(headers, message=message) == pytest.approx(0.01)
    assert retry_after_seconds(headers) == pytest.approx(9.993)  # nothing better stated
    assert retry_after_seconds({"retry-after": "2", **headers}, message=message) == 2.0


def test_azure_429_limits_without_resets() -> None:
    limits = server_limits(AZURE_429)
    assert limits is not None
    assert (limits.limit_requests, limits.remaining_requests) == (8, 7)
    assert (limits.limit_tokens, limits.remaining_tokens) == (8000, 1014)
    assert limits.reset_requests_s is None and limits.reset_tokens_s is None
    assert retry_after_seconds(AZURE_429) is None


def test_azure_remaining_only_and_hyphenated_reset() -> None:
    limits = server_limits(AZURE_REMAINING_ONLY)
    assert limits is not None
    assert limits.limit_requests is None and limits.remaining_requests == 119
    assert limits.remaining_tokens == 0 and limits.reset_tokens_s == 55.0
    assert retry_after_seconds(AZURE_REMAINING_ONLY) == 55.0  # the exhausted limit's reset


def test_azure_minus_one_means_unknown() -> None:
    limits = server_limits(AZURE_SENTINELS)
    assert limits is not None
    assert limits.limit_tokens is None and limits.remaining_tokens is None


def test_azure_retry_after_ms_wins_over_retry_after() -> None:
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after_seconds({"retry-after-ms": "soon", "retry-after": "9"}) == 9.0


def test_anthropic_429_headers() -> None:
    limits = server_limits(ANTHROPIC_429, now=ANTHROPIC_NOW)
    assert limits is not None
    assert (limits.limit_requests, limits.remaining_requests) == (4000, 4000)
    assert (limits.limit_tokens, limits.remaining_tokens) == (280000, 80000)  # combined
    assert limits.reset_requests_s == pytest.approx(16.0)
    assert retry_after_seconds(ANTHROPIC_429, now=ANTHROPIC_NOW) == 16.0


def test_anthropic_without_combined_tokens_takes_the_most_exhausted() -> None:
    headers = {
        k: v for k, v in ANTHROPIC_429.items() if not k.startswith("anthropic-ratelimit-tokens")
    }
    del headers["retry-after"]
    limits = server_limits(headers, now=ANTHROPIC_NOW)
    assert limits is not None
    assert (limits.limit_tokens, limits.remaining_tokens) == (200000, 0)  # input tokens
    assert limits.reset_tokens_s == pytest.approx(79.0)
    assert retry_after_seconds(headers, now=ANTHROPIC_NOW) == pytest.approx(79.0)


def test_resets_as_rfc3339_unix_time_or_duration() -> None:
    now = 1_765_940_000.0
    assert parse_reset("2025-12-17T04:00:00Z", now=now) == pytest.approx(4000.0)
    assert parse_reset("1765944000", now=now) == pytest.approx(4000.0)  # unified-5h-reset
    assert parse_reset("6m0s", now=now) == 360.0
    assert parse_reset("next tuesday", now=now) is None


@pytest.mark.parametrize("value", ["garbage", "-3", "NaN", "inf", ""])
def test_garbage_retry_after_is_absent(value: str) -> None:
    assert retry_after_seconds({"retry-after": value}) is None


def test_retry_after_as_http_date_and_huge_values_are_read_not_capped() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()
    assert retry_after_seconds({"retry-after": "Thu, 01 Jan 2026 12:00:30 GMT"}, now=now) == 30
    assert retry_after_seconds({"retry-after": "86400"}) == 86400.0  # the scheduler bounds it
    assert math.isfinite(retry_after_seconds({"retry-after": "1e9"}) or 0.0)


def test_case_insensitive_headers_from_httpx() -> None:
    headers = httpx.Headers({"Retry-After": "3", "X-RateLimit-Limit-Requests": "60"})
    assert retry_after_seconds(headers) == 3.0
    limits = server_limits(headers)
    assert limits is not None and limits.limit_requests == 60


@pytest.mark.parametrize(
    ("message", "seconds"),
    [
        ("Limit 200000, Used 162960, Requested 42288. Please try again in 1.574s. Visit", 1.574),
        ("Limit 3, Used 3, Requested 1. Please try again in 20s.", 20.0),
        ("Please try again in 6ms.", 0.006),
        ("Rate limit is exceeded. Try again in 2 seconds.", 2.0),
        ("S0 pricing tier. Please retry after 86400 seconds. Please go here", 86400.0),
        ("This request would exceed your account's rate limit. Please try again later.", None),
    ],
)
def test_waits_stated_in_error_messages(message: str, seconds: float | None) -> None:
    assert retry_after_from_message(message) == (
        None if seconds is None else pytest.approx(seconds)
    )
