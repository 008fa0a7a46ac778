"""Server-sent events, incrementally: bytes in, `data:` payloads out, and a stream's reply.

Servers differ in framing (llama-cpp-python frames with LF, others with CRLF; Ollama sends
compact JSON, llama-cpp-python spaced), send `: ping` comments, and end with `data: [DONE]`
(or, when pre-empted or failing mid-stream, without it). Only what every one of them sends is
relied on here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DONE", "EventParser", "StreamReply"]

DONE = "[DONE]"


class EventParser:
    """Feed it bytes as they arrive; it returns the `data` of every event completed so far."""

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[str]:
        self._buffer += chunk
        events: list[str] = []
        while True:
            newline = self._buffer.find(b"\n")
            if newline < 0:
                return events
            line = self._buffer[:newline].rstrip(b"\r").decode("utf-8", "replace")
            self._buffer = self._buffer[newline + 1 :]
            if not line:  # a blank line ends the event
                if self._data:
                    events.append("\n".join(self._data))
                    self._data = []
            elif line.startswith("data:"):
                self._data.append(line[5:].removeprefix(" "))
            # Comments (": ping"), `event:`, `id:` and `retry:` carry nothing we use.

    def close(self) -> list[str]:
        """An event the server did not terminate with a blank line, if any."""
        tail = self.feed(b"\n\n") if self._buffer or self._data else []
        return tail


@dataclass
class StreamReply:
    """A chat-completion stream, assembled chunk by chunk."""

    parts: list[str] = field(default_factory=list)
    model: str | None = None
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    done: bool = False  # `[DONE]` arrived
    chunks: int = 0
    error: str | None = None  # an error object sent inside the stream

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def add(self, data: str) -> bool:
        """Take one event's data; True when it carried the first piece of content."""
        if data.strip() == DONE:
            self.done = True
            return False
        try:
            chunk = json.loads(data)
        except ValueError:
            return False  # a stray non-JSON line is not worth failing a reply for
        if not isinstance(chunk, dict):
            return False
        self.chunks += 1
        if isinstance(chunk.get("error"), dict | str):
            self.error = _error_text(chunk["error"])
        if chunk.get("model"):
            self.model = str(chunk["model"])
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        return self._add_choice(chunk.get("choices"))

    def _add_choice(self, choices: Any) -> bool:
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return False  # e.g. the final usage chunk: `choices: []`
        choice = choices[0]
        if choice.get("finish_reason"):
            self.finish_reason = str(choice["finish_reason"])
        delta = choice.get("delta")
        content = delta.get("content") if isinstance(delta, dict) else None
        if not isinstance(content, str) or not content:
            return False
        first = not self.parts
        self.parts.append(content)
        return first


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error)
