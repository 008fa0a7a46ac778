"""OpenAI chat-completion payloads: the whole answer, and the chunks of a streamed one.

A stream is `data: {chunk}\\n\\n` events: a first chunk with `delta.role`, one content delta
per token, a final chunk with an empty delta and `finish_reason`, an optional usage chunk
(`choices: []`) and `data: [DONE]`. Tokens are 4 characters, the simulator's token estimate.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["ChunkWriter", "completion", "sse_done", "tokens_of"]

TOKEN_CHARS = 4


def tokens_of(text: str) -> Iterator[str]:
    """The text in token-sized pieces (`ceil(len / 4)` of them, like `estimate_tokens`)."""
    for start in range(0, len(text), TOKEN_CHARS):
        yield text[start : start + TOKEN_CHARS]


def usage(prompt: int, completion_: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion_,
        "total_tokens": prompt + completion_,
    }


def completion(
    id_: str, model: str, created: int, content: str, finish: str, tokens: tuple[int, int]
) -> dict[str, Any]:
    """A non-streamed `chat.completion` object."""
    return {
        "id": id_,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": "postgen-sim",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish,
                "logprobs": None,
            }
        ],
        "usage": usage(*tokens),
    }


def sse_done() -> bytes:
    return b"data: [DONE]\n\n"


@dataclass(frozen=True, slots=True)
class ChunkWriter:
    """Encodes the chunks of one stream (`separators`: compact for OpenAI and Ollama,
    `json.dumps`'s default for llama-cpp-python's sse-starlette)."""

    id_: str
    model: str
    created: int
    separators: tuple[str, str] = (",", ":")
    null_usage: bool = False  # OpenAI with include_usage: `"usage": null` on other chunks

    def role(self) -> bytes:
        return self._choice({"role": "assistant", "content": ""}, None)

    def content(self, text: str) -> bytes:
        return self._choice({"content": text}, None)

    def finish(self, reason: str) -> bytes:
        return self._choice({}, reason)

    def usage(self, prompt: int, completion_: int) -> bytes:
        return self._event({**self._head(), "choices": [], "usage": usage(prompt, completion_)})

    def _choice(self, delta: dict[str, Any], finish: str | None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        chunk: dict[str, Any] = {**self._head(), "choices": [choice]}
        if self.null_usage:
            chunk["usage"] = None
        return self._event(chunk)

    def _head(self) -> dict[str, Any]:
        return {
            "id": self.id_,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "postgen-sim",
        }

    def _event(self, chunk: dict[str, Any]) -> bytes:
        text = json.dumps(chunk, ensure_ascii=False, separators=self.separators)
        return b"data: " + text.encode() + b"\n\n"
