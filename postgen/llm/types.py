"""What goes into and comes out of one chat-completion call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ChatRequest", "Completion", "Message", "Usage"]

Message = dict[str, str]


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

    def payload(self) -> dict[str, Any]:
        """The OpenAI-compatible request body."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": self.messages,
            "temperature": self.temperature,
        }
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        if self.seed is not None:
            body["seed"] = self.seed
        if self.json_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": self.schema_name, "schema": self.json_schema},
            }
        elif self.json_mode:
            body["response_format"] = {"type": "json_object"}
        return body


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
    model: str
    headers: dict[str, str] = field(default_factory=dict)
    cached: bool = False
