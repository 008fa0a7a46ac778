"""Reading what a provider says about its limits: Retry-After and the rate-limit headers.

Formats read (each tested from recorded real header sets, tests/llm/test_ratelimit_headers.py):

* OpenAI: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`; resets are Go durations
  ("1s", "6m0s", "20ms", "1m30.5s"). Any of them may be missing.
* Azure OpenAI: the same names, often `remaining` without `limit` or `reset`; `-1` means
  unknown (not "none left"); resets are integer seconds; `x-rate-limit-reset-tokens`
  (hyphenated) on some deployments; `retry-after-ms` in milliseconds.
* Anthropic (native and OpenAI-compatible): `anthropic-ratelimit-{requests,tokens,
  input-tokens,output-tokens}-{limit,remaining,reset}`, resets in RFC 3339 ("...T15:15:48Z");
  `tokens-*` is the most restrictive combined value. The unified family's resets are epoch
  seconds.
* `retry-after` as seconds (integer or float) or an HTTP date; garbage, negative, NaN or
  infinite values are treated as absent. Bodies: "Please try again in 1.574s", "Please retry
  after 7 seconds", "Try again in 2 seconds": such a wait comes before an exhausted limit's
  reset, which is when the limit is full again.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime

from scheduler import ServerLimits

__all__ = [
    "parse_duration",
    "parse_reset",
    "retry_after_from_message",
    "retry_after_seconds",
    "server_limits",
    "stated_wait",
]

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_EPOCH_2001 = 1e9  # a bare number this large is a Unix time, not a duration
_MESSAGE_WAIT = re.compile(
    r"(?:try again|retry after)\s+(?:in\s+)?(\d+(?:\.\d+)?)\s*(ms|s|seconds?|secs?)\b",
    re.IGNORECASE,
)
_ANTHROPIC = "anthropic-ratelimit-"


def parse_duration(text: str | None) -> float | None:
    """Seconds in Go's duration format ("1s", "6m0s", "250ms", "1m30.5s") or a bare number."""
    if text is None:
        return None
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        parts = _DURATION_PART.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            return None
        return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    return value if math.isfinite(value) and value >= 0 else None


def parse_reset(text: str | None, *, now: float | None = None) -> float | None:
    """Seconds until a reset given as a duration, an RFC 3339 time or a Unix time."""
    if text is None:
        return None
    now = time.time() if now is None else now
    seconds = parse_duration(text)
    if seconds is not None:
        return max(0.0, seconds - now) if seconds >= _EPOCH_2001 else seconds
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def retry_after_seconds(
    headers: Mapping[str, str], *, message: str = "", now: float | None = None
) -> float | None:
    """How long a 429 asks us to wait: retry-after-ms, retry-after, a wait the error
    `message` states, then an exhausted limit's reset. None when it said nothing usable.

    A reset comes last: it is when the limit is full again, not when the next request
    passes. OpenAI answers a 429 with `remaining 0`, a reset of the whole window and
    "Please try again in 10ms"; waiting out the reset would idle the endpoint that long.
    """
    stated = stated_wait(headers, message=message, now=now)
    if stated is not None:
        return stated
    limits = server_limits(headers, now=now)
    if limits is None:
        return None
    # Only an exhausted limit's reset is a wait: a token bucket's full-refill time is not,
    # when the server says something remains. With `remaining` unstated, a reset is all we have.
    waits = [
        reset
        for remaining, reset in (
            (limits.remaining_requests, limits.reset_requests_s),
            (limits.remaining_tokens, limits.reset_tokens_s),
        )
        if reset is not None and (remaining == 0 or remaining is None)
    ]
    return max(waits) if waits else None


def stated_wait(
    headers: Mapping[str, str], *, message: str = "", now: float | None = None
) -> float | None:
    """The wait a refusal states outright: retry-after-ms, retry-after (seconds or an HTTP
    date), else one in the error `message`. A 503's wait is this alone: its rate-limit
    headers describe the quota, which is not what refused it.
    """
    ms = parse_duration(headers.get("retry-after-ms"))
    if ms is not None:
        return ms / 1000.0
    value = headers.get("retry-after")
    if value is not None:
        seconds = parse_duration(value)
        if seconds is not None:
            return seconds
        delay = _http_date_delay(value, now)
        if delay is not None:
            return delay
    return retry_after_from_message(message)


def retry_after_from_message(message: str) -> float | None:
    """A wait stated in an error message ("Please try again in 1.574s"), or None."""
    match = _MESSAGE_WAIT.search(message)
    if match is None:
        return None
    value = float(match.group(1))
    return value / 1000.0 if match.group(2).lower() == "ms" else value


def server_limits(headers: Mapping[str, str], *, now: float | None = None) -> ServerLimits | None:
    """The limits a server states (OpenAI, Azure or Anthropic names), or None when none."""
    if any(k.startswith(_ANTHROPIC) for k in headers):
        limits = _anthropic(headers, now)
    else:
        limits = _openai(headers, now)
    return None if limits == ServerLimits() else limits


def _openai(headers: Mapping[str, str], now: float | None) -> ServerLimits:
    def get(kind: str, dim: str) -> str | None:
        value = headers.get(f"x-ratelimit-{kind}-{dim}")
        return headers.get(f"x-rate-limit-{kind}-{dim}") if value is None else value

    return ServerLimits(
        limit_requests=_count(get("limit", "requests")),
        remaining_requests=_count(get("remaining", "requests")),
        reset_requests_s=parse_reset(get("reset", "requests"), now=now),
        limit_tokens=_count(get("limit", "tokens")),
        remaining_tokens=_count(get("remaining", "tokens")),
        reset_tokens_s=parse_reset(get("reset", "tokens"), now=now),
    )


def _anthropic(headers: Mapping[str, str], now: float | None) -> ServerLimits:
    def family(dim: str) -> tuple[int | None, int | None, float | None]:
        return (
            _count(headers.get(f"{_ANTHROPIC}{dim}-limit")),
            _count(headers.get(f"{_ANTHROPIC}{dim}-remaining")),
            parse_reset(headers.get(f"{_ANTHROPIC}{dim}-reset"), now=now),
        )

    requests = family("requests")
    tokens = family("tokens")
    if tokens == (None, None, None):  # no combined value: the most exhausted of the two
        split = [family("input-tokens"), family("output-tokens")]
        known = [f for f in split if f[0] and f[1] is not None]
        if known:
            tokens = min(known, key=lambda f: (f[1] or 0) / (f[0] or 1))
    return ServerLimits(
        limit_requests=requests[0],
        remaining_requests=requests[1],
        reset_requests_s=requests[2],
        limit_tokens=tokens[0],
        remaining_tokens=tokens[1],
        reset_tokens_s=tokens[2],
    )


def _count(value: str | None) -> int | None:
    """A non-negative count; Azure's -1 ("unknown") and garbage read as absent."""
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return int(number) if math.isfinite(number) and number >= 0 else None


def _http_date_delay(value: str, now: float | None) -> float | None:
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, when - (time.time() if now is None else now))
