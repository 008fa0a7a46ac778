"""What a stage needs from the engine: a way to ask the LLM for text or a validated model.

The engine's `StageCaller` (store, budget, scheduler lane, re-ask) is one; a test can pass
another. Stages depend on this protocol, not on the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from postgen.llm.types import Completion, Message

__all__ = ["Caller", "Check"]

M = TypeVar("M", bound=BaseModel)
V = TypeVar("V")

# Raises InvalidOutput when a reply parses but cannot be used.
Check = Callable[[V], None]


class Caller(Protocol):
    async def text(
        self, messages: list[Message], *, item: str, check: Check[str] | None = None
    ) -> Completion: ...

    async def structured(
        self,
        messages: list[Message],
        model: type[M],
        *,
        item: str,
        check: Check[M] | None = None,
        schema: dict[str, Any] | None = None,
        fix: Callable[[dict[str, Any]], int] | None = None,
    ) -> M: ...
