"""One stage's way to the LLM: cache, scheduler lane, client, structured output and re-ask."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pydantic import BaseModel

from postgen.engine.structured import Fix, extract_json_object, schema_for, validate_model
from postgen.errors import InvalidOutput, Truncated
from postgen.llm.negotiate import (
    AUTO_ORDER,
    FormNegotiator,
    form_record,
    negotiation_key,
    stored_form,
)
from postgen.llm.types import ChatRequest, Completion, Form, Message
from postgen.observe.stats import StageStats
from postgen.prompts import render_repair
from postgen.stages.caller import Check

if TYPE_CHECKING:
    from postgen.engine.budget import Budget

__all__ = [
    "CallStore",
    "Lane",
    "StageCaller",
    "StageParams",
    "call_key",
    "endpoint_negotiator",
]

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
    json_schema: bool  # False: no schema is sent (prompted JSON), as llm.structured_output=prompt
    timeout_s: float | None = None  # one attempt's bound, enforced by the client
    timeout_key: str = ""  # the setting that says so, for the timeout's message


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
        negotiator: FormNegotiator | None = None,
    ) -> None:
        self.params = params
        self._complete = complete
        self._lane = lane
        self._stats = stats
        self._store = store
        self._budget = budget
        # One per endpoint, shared by the stages: pass the same one to every stage's caller.
        self.negotiator = negotiator or FormNegotiator("auto" if params.json_schema else "prompt")

    async def text(
        self, messages: list[Message], *, item: str, check: Check[str] | None = None
    ) -> Completion:
        """A free-text completion for one item (e.g. "3" or "3/vote2").

        `check` raises InvalidOutput for an unusable reply. A replayed reply that fails it is
        asked for live once more, so a stored bad answer cannot fail the item forever.
        """
        request = self._request(messages, item)
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
        schema: dict[str, Any] | None = None,
        fix: Fix | None = None,
    ) -> M:
        """A reply validated as `model` (and by `check`); one re-ask with the error if unusable.

        `schema` is what the server is asked to follow (default: `model`'s own); `fix` repairs
        a parsed reply before validation and says how many values it changed (counted). A
        reply cut off at max_tokens is asked for again with twice the room, not "repaired";
        one cut off well short of it (a full context window) fails at once.
        """
        wire = schema if schema is not None else schema_for(model)
        request = self._request(messages, item, wire, model.__name__)
        completion = await self._call(request, item)
        try:
            return self._parse(completion, model, check, fix)
        except InvalidOutput as error:
            first = error
            # Replayed and unusable: ask live rather than replay forever. (A truncated reply
            # goes on to its roomier retry below, which is stored too, and replays.)
            if completion.cached and not completion.truncated:
                completion = await self._call(request, item, fresh=True)
                try:
                    return self._parse(completion, model, check, fix)
                except InvalidOutput as again:
                    first = again
        if completion.truncated and _window_cut(completion, request):
            raise _window_truncated(completion, request) from None  # more room cannot help
        self._stats.reasks += 1
        if completion.truncated:
            return await self._reask_roomier(request, item, model, check, fix)
        retry_messages = [
            *messages,
            {"role": "assistant", "content": completion.text},
            {"role": "user", "content": render_repair(str(first))},
        ]
        reask = self._request(retry_messages, item, wire, model.__name__)
        return self._parse(await self._call(reask, item + "/reask"), model, check, fix)

    async def _reask_roomier(
        self,
        request: ChatRequest,
        item: str,
        model: type[M],
        check: Check[M] | None,
        fix: Fix | None,
    ) -> M:
        """The same request with twice the max_tokens, for a reply cut off at max_tokens."""
        roomier = replace(request, max_tokens=2 * (request.max_tokens or 1024))
        longer = await self._call(roomier, item + "/reask")
        try:
            return self._parse(longer, model, check, fix)
        except Truncated:
            if _window_cut(longer, roomier):
                raise _window_truncated(longer, roomier) from None
            raise

    def _parse(
        self, completion: Completion, model: type[M], check: Check[M] | None, fix: Fix | None
    ) -> M:
        try:
            parsed = extract_json_object(completion.text)
            fixes = fix(parsed.value) if fix is not None else 0
            value = validate_model(parsed.value, model)
            if check is not None:
                check(value)
        except InvalidOutput as error:
            if completion.truncated:
                raise Truncated(
                    f"the reply was cut off at max_tokens={self.params.max_tokens} "
                    f"(stage.{self.params.stage}.max_tokens): {error}"
                ) from None
            raise
        if parsed.repaired:
            self._stats.repairs += 1
        self._stats.clamped += fixes
        return value

    async def _call(self, request: ChatRequest, item: str, *, fresh: bool = False) -> Completion:
        structured = request.json_schema is not None
        async with self.negotiator.turn(structured):  # outside the lane: holds no slot
            if structured:  # the form in use is part of what decides the answer
                request = replace(request, form=self.negotiator.form)
            return await self._call_once(request, item, fresh=fresh)

    async def _call_once(self, request: ChatRequest, item: str, *, fresh: bool) -> Completion:
        key = call_key(self.params.endpoint, request, item)
        hit = None if fresh or self._store is None else self._store.get(key)
        if hit is not None:
            self._stats.record_cached(hit)
            return hit
        if self._budget is not None:
            self._budget.reserve()  # raises BudgetExhausted: nothing is sent
        est = sum(len(m["content"]) for m in request.messages) // 4 + (request.max_tokens or 0)
        sent: list[ChatRequest] = []

        async def attempt() -> Completion:
            return await self.negotiator.send(request, self._complete, sent=sent)

        # A context-length refusal is classified FAIL (postgen.llm.classify): the item fails at
        # once with its own reason, since the same prompt would overflow again.
        completion = await self._lane.call_with_fallback(attempt, est_tokens=est)
        if sent and sent[-1] != request:  # the form was refused: the answer is the new form's
            key = call_key(self.params.endpoint, sent[-1], item)
        if self._store is not None:
            self._store.put(key, completion)  # durable before anything else uses it
        self._stats.record_success(completion)
        return completion

    def _request(
        self,
        messages: list[Message],
        item: str,
        schema: dict[str, Any] | None = None,
        schema_name: str = "output",
    ) -> ChatRequest:
        p = self.params
        return ChatRequest(
            model=p.model,
            messages=messages,
            temperature=p.temperature,
            max_tokens=p.max_tokens,
            seed=_item_seed(p.seed, p.stage, item),
            json_schema=schema,
            schema_name=schema_name,
            timeout_s=p.timeout_s,
            timeout_key=p.timeout_key,
        )


def endpoint_negotiator(mode: str, endpoint: str, store: CallStore | None) -> FormNegotiator:
    """The endpoint's negotiator, starting from the form a previous run found (if stored)."""
    key = negotiation_key(endpoint)
    known = stored_form(store.get(key)) if store is not None and mode == "auto" else None

    def remember(form: Form) -> None:
        # Only a step down is worth keeping: the strongest form needs no probing anyway.
        if store is not None and form is not AUTO_ORDER[0]:
            store.put(key, form_record(form))  # replays of this endpoint need no probing

    return FormNegotiator(mode, known=known, on_settle=remember)


def call_key(endpoint: str, request: ChatRequest, item: str) -> str:
    """What determines a call's answer, hashed: the store's key."""
    blob = json.dumps([endpoint, item, request.payload()], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def _item_seed(seed: int, stage: str, item: str) -> int:
    # A distinct, reproducible sampling seed per (run seed, stage, item, vote).
    digest = hashlib.blake2b(f"{seed}:{stage}:{item.split('/reask')[0]}".encode(), digest_size=4)
    return int.from_bytes(digest.digest(), "big")


# Under these shares of its max_tokens, a cut-off reply was cut by the context window.
_REPORTED_SHORT, _ESTIMATED_SHORT = 0.9, 0.5


def _window_cut(completion: Completion, request: ChatRequest) -> bool:
    """Whether a reply cut off (`length`) stopped well short of the max_tokens it was sent.

    Then the server's context window (or its own output cap), not max_tokens, ended it:
    llama.cpp stops generating when prompt + reply fill its context (2048 tokens by default
    in llama-cpp-python) and says `length` just the same. Reported counts are exact;
    estimated ones (~4 characters a token, where a server reports no usage, as
    llama-cpp-python's streams) need a wider margin, and so does a replayed reply, whose
    store does not keep whether its counts were estimated.
    """
    sent = request.max_tokens
    if not sent:
        return False
    estimated = completion.usage_estimated or completion.cached
    share = _ESTIMATED_SHORT if estimated else _REPORTED_SHORT
    return completion.usage.output_tokens < share * sent


def _window_truncated(completion: Completion, request: ChatRequest) -> Truncated:
    u = completion.usage
    about = "about " if completion.usage_estimated else ""
    return Truncated(
        f"the reply was cut off after {about}{u.output_tokens} tokens, short of its "
        f"max_tokens={request.max_tokens}: the server's context window is full ({about}"
        f"{u.input_tokens} prompt + {u.output_tokens} reply tokens), or it caps replies "
        "shorter; start it with a larger context (llama-cpp-python: --n_ctx; llama-server: "
        "--ctx-size)"
    )
