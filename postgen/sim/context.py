"""Context-window policies: what a server does when prompt (+ max_tokens) exceeds n_ctx.

A policy returns either a refusal (status, body) or the completion-token cap the request
gets; real servers differ: OpenAI and vLLM refuse prompt + max_tokens over the window,
llama-cpp-python refuses only a prompt that fills it and silently shortens max_tokens,
Ollama truncates the prompt and never refuses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["ContextPolicy", "Verdict"]


@dataclass(frozen=True, slots=True)
class Verdict:
    refusal: tuple[int, Any] | None = None
    cap: int | None = None  # completion tokens allowed (None = as the request asked)


ContextPolicy = Callable[[int, int | None, int], Verdict]


def _room(prompt: int, max_tokens: int | None, n_ctx: int) -> Verdict:
    room = max(1, n_ctx - prompt)
    return Verdict(cap=room if max_tokens is None else min(max_tokens, room))


def _length_error(message: str, param: str | None = "messages") -> dict[str, Any]:
    error = {
        "message": message,
        "type": "invalid_request_error",
        "param": param,
        "code": "context_length_exceeded",
    }
    return {"error": error}


def openai_context(prompt: int, max_tokens: int | None, n_ctx: int) -> Verdict:
    """The classic OpenAI 400 (`code: context_length_exceeded`, `param: messages`)."""
    head = f"This model's maximum context length is {n_ctx} tokens. However, "
    if max_tokens is None:
        if prompt < n_ctx:
            return _room(prompt, max_tokens, n_ctx)
        text = (
            f"your messages resulted in {prompt} tokens. Please reduce the length of the messages."
        )
        return Verdict(refusal=(400, _length_error(head + text)))
    if prompt + max_tokens <= n_ctx:
        return Verdict(cap=max_tokens)
    text = (
        f"you requested {prompt + max_tokens} tokens ({prompt} in the messages, {max_tokens} "
        "in the completion). Please reduce the length of the messages or completion."
    )
    return Verdict(refusal=(400, _length_error(head + text)))


def llamacpp_context(prompt: int, max_tokens: int | None, n_ctx: int) -> Verdict:
    """llama-cpp-python: 400 only when the prompt alone fills n_ctx (note the literal `None`
    when max_tokens is omitted); otherwise max_tokens is cut to what fits, silently."""
    if prompt < n_ctx:
        return _room(prompt, max_tokens, n_ctx)
    requested = prompt + (max_tokens or 0)
    message = (
        f"This model's maximum context length is {n_ctx} tokens. However, you requested "
        f"{requested} tokens ({prompt} in the messages, {max_tokens} in the completion). "
        "Please reduce the length of the messages or completion."
    )
    return Verdict(refusal=(400, _length_error(message)))


def vllm_context(prompt: int, max_tokens: int | None, n_ctx: int) -> Verdict:
    """vLLM after PR #36197: prompt + max_tokens over max_model_len is refused."""
    head = f"This model's maximum context length is {n_ctx} tokens. However, your request has "
    if max_tokens is None:
        if prompt < n_ctx:
            return _room(prompt, max_tokens, n_ctx)
        message = (
            f"{head}{prompt} input tokens. Please reduce the length of the input messages. "
            f"(parameter=input_tokens, value={prompt})"
        )
        body = {"message": message, "type": "BadRequestError", "param": "input_tokens"}
        return Verdict(refusal=(400, {"error": {**body, "code": 400}}))
    if prompt + max_tokens <= n_ctx:
        return Verdict(cap=max_tokens)
    message = (
        f"{head}{prompt} input tokens plus {max_tokens} 'max_tokens'. Please reduce one or the "
        f"other. (parameter=input_tokens, max_tokens, value=({prompt}, {max_tokens}))"
    )
    body = {"message": message, "type": "BadRequestError", "param": "input_tokens, max_tokens"}
    return Verdict(refusal=(400, {"error": {**body, "code": 400}}))


def anthropic_context(prompt: int, max_tokens: int | None, n_ctx: int) -> Verdict:
    """Anthropic's wording ("prompt is too long: N tokens > M maximum") in the compat envelope."""
    if prompt + (max_tokens or 0) <= n_ctx:
        return _room(prompt, max_tokens, n_ctx)
    message = f"prompt is too long: {prompt + (max_tokens or 0)} tokens > {n_ctx} maximum"
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": None}
    return Verdict(refusal=(400, {"error": error}))


def truncating_context(prompt: int, max_tokens: int | None, n_ctx: int) -> Verdict:
    """Ollama drops old messages to fit `num_ctx`: never a refusal, the reply is unchanged."""
    return Verdict(cap=max_tokens)
