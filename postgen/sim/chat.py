"""`POST /v1/chat/completions`: checks, limits, faults, the slot, then the answer or a stream.

Order, as real servers do it: body and auth, model, response_format, context window, rate
limits, faults, the capacity gate (queue), generation. Every refusal's look comes from the
profile (`profiles.py`); nothing here asks which profile it is.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any

from .content import Shaping, estimate_tokens, generate, requested_max_tokens
from .faults import Fault, burst_429_left, draw_fault, slowness, truncate_json
from .formats import Treatment, read_format
from .http import Request, Response, StreamingResponse
from .job import Job, Plan, abandoned, count_completion
from .limits import Overloaded
from .pacing import Pacer
from .profiles import Refusal
from .prompt import message_text
from .refusals import BucketView, Refused
from .state import State
from .stream import completion
from .streaming import AbortedBody, SseBody

__all__ = ["ChatCompletions"]

_PLAIN_QUANTUM_S = 0.05  # a non-streamed generation wakes at most this often (disconnects)


class ChatCompletions:
    """The chat endpoint of one simulator (`await chat(request)`)."""

    def __init__(self, state: State) -> None:
        self.state = state

    async def __call__(self, request: Request) -> Response | StreamingResponse:
        stats = self.state.stats
        stats.enter()
        try:
            response = await self._complete(request)
        except BaseException:
            stats.leave()
            raise
        if isinstance(response, Response):
            stats.leave()
            stats.by_status[response.status] += 1
            response.headers.update(self.rate_headers())
        return response

    # --- checks before any work ------------------------------------------------------------

    def _error(self, status: int, type_: str, message: str, code: str | None = None) -> Response:
        body = self.state.profile.envelope(status, message, type_, None, code)
        return Response(status, body)

    async def _complete(self, request: Request) -> Response | StreamingResponse:
        s = self.state
        s.serial += 1
        try:
            body = json.loads(request.body)
        except ValueError:
            return self._error(400, "invalid_request_error", "body is not JSON", "invalid_json")
        if not isinstance(body, dict):
            return self._error(400, "invalid_request_error", "body must be a JSON object")
        refused = self.check_auth(request) or self._check_quota()
        if refused is not None:
            return refused
        return await self._chat(request, body)

    def check_auth(self, request: Request) -> Response | None:
        key = self.state.config.api_key
        if key is not None and request.headers.get("authorization", "") != f"Bearer {key}":
            return self._error(
                401, "invalid_request_error", "Incorrect API key.", "invalid_api_key"
            )
        return None

    def _check_quota(self) -> Response | None:
        if not self.state.config.insufficient_quota:
            return None
        message = "You exceeded your current quota, please check your plan and billing."
        return self._error(429, "insufficient_quota", message, "insufficient_quota")

    async def _chat(self, request: Request, body: dict[str, Any]) -> Response | StreamingResponse:
        s = self.state
        arrived = s.now()
        planned = self._plan(body)
        if not isinstance(planned, Plan):
            return planned
        reply = generate(body, s.config.seed, planned.shaping)
        s.stats.by_kind[reply.kind] += 1
        completion_tokens = estimate_tokens(reply.content)
        limited = self._rate_limit(planned.prompt_tokens, completion_tokens, planned.model)
        if limited is not None:
            return limited
        counter = s.counter
        s.counter += 1
        fault = draw_fault(s.config, counter)
        failed = await self._fail(fault)
        if failed is not None:
            return failed
        content = reply.content
        if fault is Fault.MALFORMED and reply.is_json:
            content = truncate_json(content, counter)
        job = Job(
            request,
            planned.model,
            reply,
            content,
            planned.prompt_tokens,
            completion_tokens,
            f"chatcmpl-sim{counter:08d}",
            self._request_id(),
            planned.stream and planned.include_usage,
            arrived,
            s.config.hang_s if fault is Fault.STALL else 0.0,
            slowness(s.config, reply.content),
        )
        refused = await self._take_slot(job)
        if refused is not None:
            return refused
        s.stats.start_processing()
        if planned.stream:
            headers = {**self.rate_headers(), **self._extra_headers(job)}
            return StreamingResponse(200, SseBody(s, job), headers=headers)
        return await self._answer(job)

    def _plan(self, body: dict[str, Any]) -> Plan | Response | StreamingResponse:
        """Model, response_format and context window: what to generate, or the refusal."""
        s, profile = self.state, self.state.profile
        model, messages = body.get("model", profile.model_path), body.get("messages")
        if not isinstance(model, str) or not isinstance(messages, list) or not messages:
            return self._error(400, "invalid_request_error", "'model' and 'messages' are required")
        models = s.config.models
        if profile.unknown_model is not None and models and model not in models:
            return Response(*profile.unknown_model(model))
        fmt = read_format(body)
        s.stats.response_formats[fmt.form] += 1
        treatment = profile.formats[fmt.form]
        if treatment is Treatment.REJECT:
            return Response(*profile.reject_format(fmt))
        if treatment is Treatment.SCHEMA and fmt.schema is None:
            treatment = Treatment.JSON
        stream = body.get("stream") is True
        prompt_text = "".join(
            message_text(m.get("content")) for m in messages if isinstance(m, dict)
        )
        prompt_tokens = estimate_tokens(prompt_text)
        cap = requested_max_tokens(body)
        if s.n_ctx is not None:
            verdict = profile.context(prompt_tokens, cap, s.n_ctx)
            if verdict.refusal is not None:
                if stream and profile.stream_context_error_empty:
                    return StreamingResponse(200, AbortedBody(s, verdict.refusal[0]))
                return Response(*verdict.refusal)
            cap = verdict.cap
        shaping = Shaping(treatment, fmt.schema, s.drop_fields, cap, profile.writer_fits_max_tokens)
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        return Plan(model, prompt_tokens, shaping, stream, include_usage and profile.stream_usage)

    async def _fail(self, fault: Fault) -> Response | None:
        """The drawn fault's answer (a 500 after TTFT, a hang then 504), or None."""
        s = self.state
        if fault is not Fault.NONE:
            s.stats.faults[fault.value] += 1
        if fault is Fault.ERROR:
            await _sleep(s.config.ttft_s * s.config.time_scale)
            message = "The server had an error processing your request."
            return self._error(500, "server_error", message)
        if fault is Fault.HANG:
            await asyncio.sleep(s.config.hang_s)  # real seconds: meant to outlast client timeouts
            return self._error(504, "timeout", "The request timed out.", "timeout")
        return None

    # --- rate limits and the slot ----------------------------------------------------------

    def _rate_limit(self, prompt: int, completion_: int, model: str) -> Response | None:
        s = self.state
        now = s.now()
        tokens = prompt + completion_
        too_large = s.profile.too_large
        if too_large is not None and s.tpm is not None and tokens > s.tpm.limit:
            used = s.tpm.limit - s.tpm.remaining(now)
            refused = Refused("tokens", s.tpm.limit, used, tokens, 0.0, model, self._request_id())
            return Response(too_large.status, too_large.body(refused))
        burst_left = burst_429_left(s.config, now - s.start)
        waits = {
            "requests": s.rpm.wait_for(1, now) if s.rpm else 0.0,
            "tokens": s.tpm.wait_for(tokens, now) if s.tpm else 0.0,
        }
        if burst_left <= 0 and max(waits.values()) <= 0:
            if s.rpm:
                s.rpm.take(1, now)
            if s.tpm:
                s.tpm.take(tokens, now)
            return None
        wait = max(burst_left, *waits.values())
        if burst_left > 0:
            kind, bucket = "burst", s.rpm
        elif waits["requests"] >= waits["tokens"]:
            kind, bucket = "requests", s.rpm
        else:
            kind, bucket = "tokens", s.tpm
        limit = bucket.limit if bucket else None
        used = bucket.limit - bucket.remaining(now) if bucket else 0
        requested = tokens if kind == "tokens" else 1
        refused = Refused(kind, limit, used, requested, wait, model, self._request_id())
        return self._refuse(s.profile.rate_limit, refused)

    def _refuse(self, refusal: Refusal, refused: Refused) -> Response:
        s = self.state
        response = Response(refusal.status, refusal.body(refused))
        draw = random.Random(f"retry:{s.config.seed}:{s.serial}").random()
        if s.config.retry_after and draw < s.profile.retry_after_share:
            response.headers.update(refusal.retry_after(refused.wait_s))
        return response

    async def _take_slot(self, job: Job) -> Response | None:
        """The slot, after the queue; a refusal if the queue is full or the client left."""
        s = self.state
        gate = s.gate
        if not gate.try_acquire():
            try:
                left = await self._queue(job.request)
            except Overloaded:
                refused = Refused(
                    "capacity",
                    gate.capacity,
                    gate.in_service,
                    1,
                    s.profile.overflow_wait_s,
                    job.model,
                    job.request_id,
                )
                return self._refuse(s.profile.overflow, refused)
            if left:
                return abandoned(s.stats)
        if job.request.gone.is_set():  # checked before generating, as every server does
            gate.release()
            return abandoned(s.stats)
        return None

    async def _queue(self, request: Request) -> bool:
        """Wait in the gate's queue; True if the client left first (and the server noticed)."""
        gate = self.state.gate
        if not self.state.profile.notices_disconnect:
            await gate.acquire()
            return False
        acquire = asyncio.ensure_future(gate.acquire())
        gone = asyncio.ensure_future(request.gone.wait())
        try:
            await asyncio.wait({acquire, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if acquire.done():
            acquire.result()  # raises Overloaded
            return False
        acquire.cancel()
        try:
            await acquire
        except asyncio.CancelledError:
            pass
        else:
            gate.release()  # got the slot in the same instant; give it back
        return True

    # --- answers ---------------------------------------------------------------------------

    async def _answer(self, job: Job) -> Response:
        """A non-streamed answer: the whole generation time, then one JSON document."""
        s, profile = self.state, self.state.profile
        watch = job.request.gone if profile.notices_disconnect else None
        try:
            pacer = Pacer(watch, _PLAIN_QUANTUM_S)
            finished = await self._generate(pacer, job.completion_tokens, job.slowness)
        finally:
            s.stats.stop_processing()
            s.gate.release()
        if not finished:
            return abandoned(s.stats)
        if job.request.gone.is_set():  # generated to the end for a client long gone
            s.stats.abandoned_finished += 1
            return abandoned(s.stats)
        count_completion(s.stats, job)
        tokens = (job.prompt_tokens, job.completion_tokens)
        payload = completion(
            job.completion_id,
            job.model,
            int(time.time()),
            job.content,
            job.reply.finish_reason,
            tokens,
        )
        response = Response(200, payload)
        response.headers.update(self._extra_headers(job))
        return response

    async def _generate(self, pacer: Pacer, tokens: int, slowness: float) -> bool:
        """Spend TTFT + per-token time; False if the client left (and the pacer watched)."""
        s = self.state
        scale = s.config.time_scale * slowness
        if s.batch_slowdown == 0:
            total = (s.config.ttft_s + s.config.per_token_s * tokens) * scale
            return await pacer.wait(total) and await pacer.flush()
        if not await pacer.wait(s.config.ttft_s * scale * s.slowdown_factor()):
            return False
        for _ in range(tokens):
            if not await pacer.wait(s.config.per_token_s * scale * s.slowdown_factor()):
                return False
        return await pacer.flush()

    # --- headers ---------------------------------------------------------------------------

    def rate_headers(self) -> dict[str, str]:
        s = self.state
        if not s.config.rate_headers:
            return {}
        now = s.now()
        views = [
            BucketView(name, b.limit, b.remaining(now), b.reset_in(now))
            for name, b in (("requests", s.rpm), ("tokens", s.tpm))
            if b is not None
        ]
        return s.profile.rate_headers(views, time.time())

    def _extra_headers(self, job: Job) -> dict[str, str]:
        processing_ms = round((self.state.now() - job.arrived) * 1000)
        return self.state.profile.extra_headers(job.request_id, processing_ms)

    def _request_id(self) -> str:
        return f"req_sim{self.state.config.seed:04d}{self.state.serial:012d}"


async def _sleep(seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)
