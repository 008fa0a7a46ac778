"""Provider profiles: how each kind of real server refuses, answers and streams.

A profile is data (a frozen table of values and small builder functions); the request path
reads its fields and never asks for a profile's name. The limits themselves (`rpm`, `tpm`,
`capacity`, `queue`, `n_ctx`) stay separate options, so any profile can be combined with any
hidden limit; a profile only supplies defaults for the ones its server has built in (slots,
queue length, context window).

Where each shape was recorded is named in `refusals.py` and `context.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import refusals as r
from .context import (
    ContextPolicy,
    anthropic_context,
    llamacpp_context,
    openai_context,
    truncating_context,
    vllm_context,
)
from .formats import FormatRequest, Treatment, treatments

__all__ = ["PROFILES", "Profile", "Refusal", "profile_named"]

UNBOUNDED = None  # a queue length: requests wait as long as it takes, nobody is refused

Envelope = Callable[[int, str, str, "str | None", "str | None"], Any]
HeaderFamily = Callable[[Sequence[r.BucketView], float], dict[str, str]]
RetryStyle = Callable[[float], dict[str, str]]

P, J, S, X = Treatment.PLAIN, Treatment.JSON, Treatment.SCHEMA, Treatment.REJECT


@dataclass(frozen=True, slots=True)
class Refusal:
    """One way of saying no: the status, the body and how the wait is announced."""

    status: int
    body: Callable[[r.Refused], Any]
    retry_after: RetryStyle = r.no_retry_after


def _openai_unknown_model(model: str) -> tuple[int, Any]:
    message = f"The model `{model}` does not exist or you do not have access to it."
    return 404, r.openai_envelope(404, message, "invalid_request_error", None, "model_not_found")


def _sim_unknown_model(model: str) -> tuple[int, Any]:
    message = f"The model `{model}` does not exist or you do not have access to it."
    return 404, r.sim_envelope(404, message, "invalid_request_error", None, "model_not_found")


def _vllm_unknown_model(model: str) -> tuple[int, Any]:
    message = f"The model `{model}` does not exist."
    return 404, r.vllm_envelope(404, message, "NotFoundError", "model", None)


def _ollama_unknown_model(model: str) -> tuple[int, Any]:
    return 404, r.ollama_envelope(404, f"model '{model}' not found", "", None, None)


def _openai_bad_format(request: FormatRequest) -> tuple[int, Any]:
    message = (
        f"Invalid value: '{request.type_}'. Supported values are: 'json_object', "
        "'json_schema', and 'text'."
    )
    return 400, r.openai_envelope(
        400, message, "invalid_request_error", "response_format.type", "invalid_value"
    )


def _llamacpp_bad_format(request: FormatRequest) -> tuple[int, Any]:
    """A pydantic literal_error that llama-cpp-python's RouteErrorHandler turns into a 500
    (ggml-org/llama.cpp#23463); the traceback tail names the real endpoint."""
    given = request.type_ if request.type_ is not None else "None"
    message = (
        "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', "
        "'type'), 'msg': \"Input should be 'text' or 'json_object'\", 'input': "
        f"'{given}', 'ctx': {{'expected': \"'text' or 'json_object'\"}}}}\n\n"
        '  File "llama_cpp/server/app.py", line 408, in create_chat_completion\n'
        "    POST /v1/chat/completions"
    )
    return 500, r.openai_envelope(500, message, "internal_server_error", None, None)


def _no_bad_format(request: FormatRequest) -> tuple[int, Any]:  # pragma: no cover - unused
    raise AssertionError("this profile rejects no response_format")


def _no_headers_extra(request_id: str, processing_ms: int) -> dict[str, str]:
    return {}


def _openai_extra(request_id: str, processing_ms: int) -> dict[str, str]:
    return {"openai-processing-ms": str(processing_ms), "x-request-id": request_id}


def _anthropic_extra(request_id: str, processing_ms: int) -> dict[str, str]:
    return {"request-id": request_id}


@dataclass(frozen=True, slots=True)
class Profile:
    """Everything that differs between servers, as values; see the module docstring."""

    name: str
    summary: str
    rate_limit: Refusal
    overflow: Refusal
    rate_headers: HeaderFamily = r.no_headers
    too_large: Refusal | None = None  # a request above the whole TPM limit (None: waits for it)
    retry_after_share: float = 1.0  # fraction of refusals that carry the retry headers
    overflow_wait_s: float = 1.0  # the wait an overflow refusal announces
    capacity: int | None = None  # built-in slots (None = no limit)
    queue: int | None = 0  # built-in queue length (None = unbounded)
    formats: Mapping[str, Treatment] = field(
        default_factory=lambda: treatments(json_object=J, json_object__schema=J, json_schema=S)
    )
    reject_format: Callable[[FormatRequest], tuple[int, Any]] = _no_bad_format
    schemaless_drops_fields: bool = False
    writer_fits_max_tokens: bool = False  # a real model does not know max_tokens
    n_ctx: int | None = None
    context: ContextPolicy = openai_context
    stream_context_error_empty: bool = False  # llama-cpp-python: 200, SSE headers, no events
    stream_usage: bool = True  # honours stream_options.include_usage
    null_usage_in_chunks: bool = False  # OpenAI: `"usage": null` on every other chunk
    sse_separators: tuple[str, str] = (",", ":")
    notices_disconnect: bool = True  # stops a non-streaming generation whose client left
    interrupt_streams: bool = False  # a request waiting for the slot cuts a stream short
    batch_slowdown: float = 0.0  # per extra request in service, the per-token time grows by this
    envelope: Envelope = r.openai_envelope
    unknown_model: Callable[[str], tuple[int, Any]] | None = _openai_unknown_model
    model_path: str | None = None  # served under this id; also the reply's model if omitted
    owned_by: str = "postgen-sim"
    extra_headers: Callable[[str, int], dict[str, str]] = _no_headers_extra


_OPENAI_FORMATS = treatments(json_object=J, json_object__schema=J, json_schema=S, other=X)
_LOCAL_SERVER_FORMATS = treatments(json_object=J, json_object__schema=S, json_schema=S)

_PROFILES: tuple[Profile, ...] = (
    Profile(
        name="sim",
        summary="the simulator's own defaults (x-ratelimit-* headers, fractional retry-after)",
        rate_limit=Refusal(429, r.sim_rate_body, r.sim_retry_after),
        overflow=Refusal(503, r.sim_overflow_body),
        rate_headers=r.openai_headers,
        formats=treatments(json_object=J, json_object__schema=S, json_schema=S),
        writer_fits_max_tokens=True,
        envelope=r.sim_envelope,
        unknown_model=_sim_unknown_model,
    ),
    Profile(
        name="openai",
        summary="api.openai.com: x-ratelimit-* (Go durations), retry-after sometimes, 503",
        rate_limit=Refusal(429, r.openai_rate_body, r.seconds_retry_after),
        overflow=Refusal(503, r.openai_overflow_body),
        rate_headers=r.openai_headers,
        too_large=Refusal(429, r.openai_too_large_body),
        retry_after_share=0.5,
        formats=_OPENAI_FORMATS,
        reject_format=_openai_bad_format,
        null_usage_in_chunks=True,
        owned_by="system",
        extra_headers=_openai_extra,
    ),
    Profile(
        name="azure",
        summary="Azure OpenAI: x-ratelimit-remaining-* only, retry-after + retry-after-ms",
        rate_limit=Refusal(429, r.azure_rate_body, r.azure_retry_after),
        overflow=Refusal(429, r.azure_overflow_body, r.azure_retry_after),
        rate_headers=r.azure_headers,
        formats=_OPENAI_FORMATS,
        reject_format=_openai_bad_format,
    ),
    Profile(
        name="anthropic",
        summary="Anthropic's OpenAI-compatible API: anthropic-ratelimit-*, 529 overloaded",
        rate_limit=Refusal(429, r.anthropic_rate_body, r.anthropic_retry_after),
        overflow=Refusal(529, r.anthropic_overflow_body, r.should_retry_only),
        rate_headers=r.anthropic_headers,
        formats=treatments(),  # "response_format: Ignored" (docs, OpenAI SDK compatibility)
        context=anthropic_context,
        extra_headers=_anthropic_extra,
    ),
    Profile(
        name="bare",
        summary="a gateway: every refusal (rate or capacity) a bare 429, no headers",
        rate_limit=Refusal(429, r.bare_body),
        overflow=Refusal(429, r.bare_body),
    ),
    Profile(
        name="overload503",
        summary="capacity overflow answered 503 (+ retry-after unless --no-retry-after)",
        rate_limit=Refusal(429, r.openai_rate_body, r.seconds_retry_after),
        overflow=Refusal(503, r.unavailable_body, r.seconds_retry_after),
    ),
    Profile(
        name="queue",
        summary="llama.cpp llama-server / Ollama style: 4 slots, an unbounded queue",
        rate_limit=Refusal(429, r.local_rate_body, r.seconds_retry_after),
        overflow=Refusal(503, r.unavailable_body),
        capacity=4,
        queue=UNBOUNDED,
        formats=_LOCAL_SERVER_FORMATS,
        schemaless_drops_fields=True,
    ),
    Profile(
        name="vllm",
        summary="vLLM: continuous batching, no refusals, per-token time grows with the batch",
        rate_limit=Refusal(429, r.vllm_rate_body, r.seconds_retry_after),
        overflow=Refusal(503, r.vllm_overflow_body),
        capacity=256,  # --max-num-seqs
        queue=UNBOUNDED,
        batch_slowdown=0.02,
        context=vllm_context,
        schemaless_drops_fields=True,
        envelope=r.vllm_envelope,
        unknown_model=_vllm_unknown_model,
        owned_by="vllm",
    ),
    Profile(
        name="llamacpp",
        summary="llama-cpp-python 0.3.x: one slot, unbounded queue, n_ctx 2048, no json_schema",
        rate_limit=Refusal(429, r.local_rate_body, r.seconds_retry_after),
        overflow=Refusal(503, r.llamacpp_overflow_body),
        capacity=1,
        queue=UNBOUNDED,
        formats=treatments(json_object=J, json_object__schema=S, json_schema=X, other=X),
        reject_format=_llamacpp_bad_format,
        schemaless_drops_fields=True,
        n_ctx=2048,
        context=llamacpp_context,
        stream_context_error_empty=True,
        stream_usage=False,
        sse_separators=(", ", ": "),
        notices_disconnect=False,
        interrupt_streams=True,  # --interrupt_requests defaults to true
        unknown_model=None,
        model_path="models/SmolLM2-135M-Instruct.Q4_1.gguf",
        owned_by="me",
        extra_headers=_openai_extra,
    ),
    Profile(
        name="ollama",
        summary="Ollama /v1: one slot, 512 queued, then 503 server busy; truncates context",
        rate_limit=Refusal(429, r.local_rate_body, r.seconds_retry_after),
        overflow=Refusal(503, r.ollama_overflow_body),
        capacity=1,  # OLLAMA_NUM_PARALLEL
        queue=512,  # OLLAMA_MAX_QUEUE
        formats=treatments(json_object=J, json_object__schema=J, json_schema=S),
        schemaless_drops_fields=True,
        context=truncating_context,
        envelope=r.ollama_envelope,
        unknown_model=_ollama_unknown_model,
        owned_by="library",
    ),
)

PROFILES: Mapping[str, Profile] = {p.name: p for p in _PROFILES}


def profile_named(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        choices = ", ".join(PROFILES)
        raise ValueError(f"unknown simulator profile {name!r} (choose from {choices})") from None
