"""One accepted chat request on its way from the slot to its answer, and how it is counted."""

from __future__ import annotations

from dataclasses import dataclass

from .content import Reply, Shaping
from .http import Request, Response
from .stats import Stats

__all__ = ["ABANDONED", "Job", "Plan", "abandoned", "count_completion"]

ABANDONED = 499  # the status a request whose client left is counted under (nginx's)


@dataclass(frozen=True, slots=True)
class Plan:
    """What the request asked for, once model, response_format and context are settled."""

    model: str
    prompt_tokens: int
    shaping: Shaping
    stream: bool
    include_usage: bool  # asked for and honoured by the profile


@dataclass(frozen=True, slots=True)
class Job:
    request: Request
    model: str
    reply: Reply
    content: str  # the reply's text as sent (a malformed fault may have cut it)
    prompt_tokens: int
    completion_tokens: int
    completion_id: str
    request_id: str
    include_usage: bool
    arrived: float  # loop time the request came in (for `openai-processing-ms`)
    stall_s: float = 0.0  # real seconds a stream goes silent after its first token
    slowness: float = 1.0  # its latency's factor (`SimConfig.jitter`)


def count_completion(stats: Stats, job: Job) -> None:
    stats.prompt_tokens += job.prompt_tokens
    stats.completion_tokens += job.completion_tokens
    if job.reply.finish_reason == "length":
        stats.truncated += 1


def abandoned(stats: Stats) -> Response:
    """Count a request whose client left; the answer is never sent (there is nobody to read it)."""
    stats.abandoned += 1
    return Response(ABANDONED, {"error": "request canceled"})
