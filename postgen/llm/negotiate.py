"""Structured-output negotiation: send the strongest `response_format` the endpoint honours.

Servers disagree on how to ask for JSON that follows a schema (see `Form`). In `auto` mode
the first structured call tries OpenAI's `json_schema`; a refusal that names
`response_format` (`UnsupportedFormat`, from the client) is a capability answer, so the same
call is sent again at once with the next weaker form, and the form that worked is kept for
the endpoint. Until one has worked, structured calls take turns (`turn`), so each form is
tried by one request and never by every request in flight. A forced mode sends its form only, and
a refusal aborts the run: retrying it cannot help.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Protocol

from postgen.errors import ConfigError, UnsupportedFormat
from postgen.llm.types import ChatRequest, Completion, Form, Usage

__all__ = [
    "AUTO_ORDER",
    "MODES",
    "FormNegotiator",
    "Refusal",
    "form_record",
    "negotiation_key",
    "parse_mode",
    "stored_form",
]

AUTO_ORDER = (Form.JSON_SCHEMA, Form.JSON_OBJECT_SCHEMA, Form.JSON_OBJECT, Form.PROMPT)
MODES = ("auto", *(f.value for f in AUTO_ORDER))


class Send(Protocol):
    def __call__(self, request: ChatRequest) -> Awaitable[Completion]: ...


@dataclass(frozen=True, slots=True)
class Refusal:
    form: Form
    reason: str


def parse_mode(mode: str, key: str = "llm.structured_output") -> str:
    """A valid `llm.structured_output` value, or a ConfigError naming the key."""
    if mode not in MODES:
        raise ConfigError(key, f"must be one of {', '.join(MODES)} (got {mode!r})")
    return mode


@dataclass
class FormNegotiator:
    """One endpoint's structured-output form, learned from its refusals."""

    mode: str = "auto"
    known: Form | None = None  # a form recorded earlier (the call store), used untested
    on_settle: Callable[[Form], None] | None = None  # called once a form worked
    refusals: list[Refusal] = field(default_factory=list)
    _order: tuple[Form, ...] = ()
    _index: int = 0
    _settled: bool = False
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        parse_mode(self.mode)
        self._order = AUTO_ORDER if self.mode == "auto" else (Form(self.mode),)
        if self.known is not None and self.known in self._order:
            self._index = self._order.index(self.known)
            self._settled = True  # replays need no probing

    @property
    def form(self) -> Form:
        """The form the next structured call is sent with."""
        return self._order[self._index]

    @property
    def settled(self) -> bool:
        return self._settled

    @asynccontextmanager
    async def turn(self, structured: bool = True) -> AsyncIterator[None]:
        """Until a form has worked, structured calls take turns, so that each form is tried
        by one request, not by every request in flight. Take the turn *outside* any
        scheduler slot: a call waiting for it must not hold a slot or a pacing token."""
        if not structured or self._settled or len(self._order) == 1:
            yield
            return
        await self._lock.acquire()
        if self._settled:  # settled while we waited: no need to go one at a time
            self._lock.release()
            yield
            return
        try:
            yield
        finally:
            self._lock.release()

    async def send(
        self, request: ChatRequest, send: Send, *, sent: list[ChatRequest] | None = None
    ) -> Completion:
        """Send `request` with the current form, stepping down on refusals (inside one
        attempt: a refusal is an answer, not a failed attempt).

        The request as finally sent is appended to `sent`: its form is part of what decides
        the answer, hence of the call's store key. (The completion itself is returned, so the
        scheduler reads its usage and rate-limit headers.)
        """
        if request.json_schema is None:
            return await send(request)
        while True:
            form = self.form
            attempt = replace(request, form=form)
            try:
                completion = await send(attempt)
            except UnsupportedFormat as refusal:
                self._refused(form, refusal)
                continue
            self._settle(form)
            if sent is not None:
                sent.append(attempt)
            return completion

    def _refused(self, form: Form, refusal: UnsupportedFormat) -> None:
        if form is not self.form:
            return  # a concurrent call already stepped past this form
        self.refusals.append(Refusal(form, str(refusal)))
        if self._index + 1 >= len(self._order):
            hint = "" if self.mode == "auto" else "; llm.structured_output=auto finds one"
            raise UnsupportedFormat(f"{refusal} (llm.structured_output={self.mode}{hint})")
        self._index += 1
        self._settled = False

    def _settle(self, form: Form) -> None:
        if self._settled or form is not self.form:
            return
        self._settled = True
        if self.on_settle is not None:
            self.on_settle(form)

    def record(self) -> dict[str, object]:
        """What run.json says about it."""
        return {
            "mode": self.mode,
            "form": self.form.value,
            "settled": self._settled,
            "refused": [{"form": r.form.value, "reason": r.reason} for r in self.refusals],
        }


def negotiation_key(endpoint: str) -> str:
    """The call-store key under which an endpoint's working form is kept between runs."""
    return hashlib.sha256(f"postgen:structured-output-form:{endpoint}".encode()).hexdigest()


def form_record(form: Form) -> Completion:
    """A negotiated form, shaped as a stored call (the store keeps completions only)."""
    return Completion(text=form.value, usage=Usage(), latency_s=0.0, model="")


def stored_form(record: Completion | None) -> Form | None:
    if record is None:
        return None
    try:
        return Form(record.text)
    except ValueError:
        return None
