"""One stage's way to the LLM: cache, scheduler lane, client, structured output and re-ask."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from pydantic import BaseModel

from postgen.engine.structured import parse_model, schema_for
from postgen.errors import InvalidOutput
from postgen.llm.types import ChatRequest, Completion, Message
from postgen.observe.stats import StageStats
from postgen.prompts import render_repair
from postgen.stages.caller import Check

if TYPE_CHECKING:
    from postgen.engine.budget import Budget

__all__ = ["CallStore", "Lane", "StageCaller", "StageParams", "call_key"]

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


class CallStore(Protocol):
    """Durable finished calls (see `postgen.store.sqlite`)."""

    def get(self, key: str) -> Completion | None: ...
    def put(self, key: str, completion: Completion) -> None: ...


class Lane(Protocol):
    """The scheduler's per-stage lane (`scheduler.Lane`)."""

    async def call_with_fallback(
        self, fn: Callable[[], Awaitable[T]], *, est_tokens: int = 0
    ) -> T: ...


class Complete(Protocol):
    async def __call__(self, request: ChatRequest) -> Completion: ...


@dataclass(frozen=True, slots=True)
class StageParams:
    stage: str
    endpoint: str
    model: str
    temperature: float
    max_tokens: int
    seed: int
    json_schema: bool


class StageCaller:
    """Makes one stage's LLM calls; the stage functions only build prompts and read replies."""

    def __init__(
        self,
        params: StageParams,
        complete: Complete,
        lane: Lane,
        stats: StageStats,
        store: CallStore | None = None,
        budget: Budget | None = None,
    ) -> None:
        self.params = params
        self._complete = complete
        self._lane = lane
        self._stats = stats
        self._store = store
        self._budget = budget

    async def text(
        self, messages: list[Message], *, item: str, check: Check[str] | None = None
    ) -> Completion:
        """A free-text completion for one item (e.g. "3" or "3/vote2").

        `check` raises InvalidOutput for an unusable reply. A replayed reply that fails it is
        asked for live once more, so a stored bad answer cannot fail the item forever.
        """
        request = self._request(messages, item, None)
        completion = await self._call(request, item)
        if check is None:
            return completion
        try:
            check(completion.text)
        except InvalidOutput:
            if not completion.cached:
                raise
            completion = await self._call(request, item, fresh=True)
            check(completion.text)
        return completion

    async def structured(
        self,
        messages: list[Message],
        model: type[M],
        *,
        item: str,
        check: Check[M] | None = None,
    ) -> M:
        """A reply validated as `model` (and by `check`); one re-ask with the error if unusable."""
        request = self._request(messages, item, model)
        completion = await self._call(request, item)
        try:
            return self._parse(completion, model, check)
        except InvalidOutput as error:
            first = error
            if completion.cached:  # replayed and unusable: ask live rather than replay forever
                completion = await self._call(request, item, fresh=True)
                try:
                    return self._parse(completion, model, check)
                except InvalidOutput as again:
                    first = again
        self._stats.reasks += 1
        retry_messages = [
            *messages,
            {"role": "assistant", "content": completion.text},
            {"role": "user", "content": render_repair(str(first))},
        ]
        reask = self._request(retry_messages, item, model)
        return self._parse(await self._call(reask, item + "/reask"), model, check)

    def _parse(self, completion: Completion, model: type[M], check: Check[M] | None) -> M:
        value, repaired = parse_model(completion.text, model)
        if check is not None:
            check(value)
        if repaired:
            self._stats.repairs += 1
        return value

    async def _call(self, request: ChatRequest, item: str, *, fresh: bool = False) -> Completion:
        key = call_key(self.params.endpoint, request, item)
        hit = None if fresh or self._store is None else self._store.get(key)
        if hit is not None:
            self._stats.record_cached(hit)
            return hit
        if self._budget is not None:
            self._budget.reserve()  # raises BudgetExhausted: nothing is sent
        est = sum(len(m["content"]) for m in request.messages) // 4 + (request.max_tokens or 0)
        completion = await self._lane.call_with_fallback(
            lambda: self._complete(request), est_tokens=est
        )
        if self._store is not None:
            self._store.put(key, completion)  # durable before anything else uses it
        self._stats.record_success(completion)
        return completion

    def _request(
        self, messages: list[Message], item: str, model: type[BaseModel] | None
    ) -> ChatRequest:
        p = self.params
        return ChatRequest(
            model=p.model,
            messages=messages,
            temperature=p.temperature,
            max_tokens=p.max_tokens,
            seed=_item_seed(p.seed, p.stage, item),
            json_schema=schema_for(model) if model is not None and p.json_schema else None,
            schema_name=model.__name__ if model is not None else "output",
            json_mode=model is not None and not p.json_schema,
        )


def call_key(endpoint: str, request: ChatRequest, item: str) -> str:
    """What determines a call's answer, hashed: the store's key."""
    blob = json.dumps([endpoint, item, request.payload()], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def _item_seed(seed: int, stage: str, item: str) -> int:
    # A distinct, reproducible sampling seed per (run seed, stage, item, vote).
    digest = hashlib.blake2b(f"{seed}:{stage}:{item.split('/reask')[0]}".encode(), digest_size=4)
    return int.from_bytes(digest.digest(), "big")
