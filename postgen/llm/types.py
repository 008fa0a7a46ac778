"""What goes into and comes out of one chat-completion call."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["ChatRequest", "Completion", "Form", "Message", "Usage"]

Message = dict[str, str]


class Form(StrEnum):
    """How a request asks for structured output, strongest first.

    `json_schema` is OpenAI's; `json_object+schema` is llama-cpp-python's (the schema becomes a
    grammar); `json_object` only promises some JSON object; `prompt` sends no
    `response_format` at all and relies on the prompt (the reply is validated either way).
    """

    JSON_SCHEMA = "json_schema"
    JSON_OBJECT_SCHEMA = "json_object+schema"
    JSON_OBJECT = "json_object"
    PROMPT = "prompt"


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    messages: list[Message]
    temperature: float = 0.7
    max_tokens: int | None = None
    seed: int | None = None
    json_schema: dict[str, Any] | None = None  # a JSON schema for structured output
    schema_name: str = "output"
    json_mode: bool = False  # ask for a JSON object without a schema
    form: Form | None = None  # how to send `json_schema`; None: OpenAI's json_schema
    # Not part of the body (nor of the store key): how long this attempt may take, and the
    # setting that says so, for a timeout message a user can act on.
    timeout_s: float | None = field(default=None, compare=False)
    timeout_key: str = field(default="", compare=False)

    def payload(self) -> dict[str, Any]:
        """The OpenAI-compatible request body (without streaming fields: the client adds them)."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": self.messages,
            "temperature": self.temperature,
        }
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        if self.seed is not None:
            body["seed"] = self.seed
        response_format = self.response_format()
        if response_format is not None:
            body["response_format"] = response_format
        return body

    def response_format(self) -> dict[str, Any] | None:
        if self.json_schema is None:
            return {"type": "json_object"} if self.json_mode else None
        form = self.form or Form.JSON_SCHEMA
        if form is Form.JSON_SCHEMA:
            return {
                "type": "json_schema",
                "json_schema": {"name": self.schema_name, "schema": self.json_schema},
            }
        if form is Form.JSON_OBJECT_SCHEMA:
            return {"type": "json_object", "schema": self.json_schema}
        if form is Form.JSON_OBJECT:
            return {"type": "json_object"}
        return None


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    usage: Usage
    latency_s: float
    model: str  # the id that answered (the reply's `model`), else the one requested
    headers: dict[str, str] = field(default_factory=dict)
    cached: bool = False
    finish_reason: str | None = None  # "stop", "length", ...; None: not reported (or replayed)
    ttft_s: float | None = None  # streaming: send to first content byte (queue + prompt)
    requested_model: str = ""  # what the request named, when it differs from `model`
    usage_estimated: bool = False  # the server reported no usage; the counts are estimates

    @property
    def truncated(self) -> bool:
        """The reply stopped at max_tokens: it is cut off mid-thought."""
        return self.finish_reason == "length"
