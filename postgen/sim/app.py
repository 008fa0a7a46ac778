"""The simulated provider's request handling: auth, limits, faults, latency, content."""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time
from typing import Any

from .config import DEFAULT_MODELS, ScheduleStep, SimConfig
from .content import estimate_tokens, generate
from .faults import Fault, burst_429_left, draw_fault, truncate_json
from .http import Request, Response, serve_connection
from .limits import CapacityGate, Overloaded, TokenBucket, format_duration
from .prompt import message_text
from .stats import Stats

__all__ = ["SimApp", "serve"]

_CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
_MODEL_PATHS = ("/v1/models", "/models")


def _error(status: int, type_: str, message: str, code: str | None = None) -> Response:
    return Response(status, {"error": {"message": message, "type": type_, "code": code}})


def _seconds(value: float) -> str:
    return f"{math.ceil(value * 1000) / 1000:.3f}".rstrip("0").rstrip(".")


class SimApp:
    """One simulated endpoint: call `start` inside a running loop, `aclose` to stop it."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self.server: asyncio.Server | None = None
        self._loop = asyncio.get_running_loop()
        self._start = self._loop.time()
        self._counter = 0
        self._stats = Stats(self._start)
        self._rpm = self._bucket(self.config.rpm)
        self._tpm = self._bucket(self.config.tpm)
        self._gate = CapacityGate(self.config.capacity, self.config.queue)
        self._connections: set[asyncio.Task[Any]] = set()
        self._schedule_task: asyncio.Task[None] | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> asyncio.Server:
        self.server = await asyncio.start_server(self._on_connect, host, port, backlog=1024)
        if self.config.schedule:
            self._schedule_task = asyncio.create_task(self._run_schedule())
        return self.server

    @property
    def port(self) -> int:
        assert self.server is not None, "not started"
        return int(self.server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        """The OpenAI-style base URL, e.g. `http://127.0.0.1:8000/v1`."""
        assert self.server is not None, "not started"
        host = str(self.server.sockets[0].getsockname()[0])
        return f"http://{host}:{self.port}/v1"

    async def aclose(self) -> None:
        """Stop listening and cancel every open connection, hung requests included."""
        if self.server is not None:
            self.server.close()
        tasks = [t for t in (self._schedule_task, *self._connections) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.server is not None:
            await self.server.wait_closed()

    async def __aenter__(self) -> SimApp:
        if self.server is None:
            await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    def stats(self) -> dict[str, Any]:
        now = self._loop.time()
        limits = {
            "rpm": self._rpm.limit if self._rpm else None,
            "tpm": self._tpm.limit if self._tpm else None,
            "capacity": self._gate.capacity,
            "queue": self._gate.queue,
        }
        return self._stats.snapshot(now, {"queued": self._gate.waiting, "limits": limits})

    def reset_stats(self) -> None:
        self._stats.reset(self._loop.time())

    # --- plumbing --------------------------------------------------------------------------

    def _bucket(self, limit: int | None) -> TokenBucket | None:
        return TokenBucket(limit, self._loop.time()) if limit else None

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            await serve_connection(reader, writer, self._handle)
        except asyncio.CancelledError:
            pass  # aclose() cancelled us; asyncio's stream callback must not see the cancel
        finally:
            if task is not None:
                self._connections.discard(task)

    async def _run_schedule(self) -> None:
        for step in self.config.schedule:
            await asyncio.sleep(max(0.0, self._start + step.at_s - self._loop.time()))
            self._apply(step)

    def _apply(self, step: ScheduleStep) -> None:
        now = self._loop.time()
        if step.rpm is not None:
            self._rpm = self._retarget(self._rpm, step.rpm, now)
        if step.tpm is not None:
            self._tpm = self._retarget(self._tpm, step.tpm, now)
        if step.capacity is not None:
            self._gate.set_capacity(step.capacity or None)

    @staticmethod
    def _retarget(bucket: TokenBucket | None, limit: int, now: float) -> TokenBucket | None:
        if not limit:
            return None
        if bucket is None:
            return TokenBucket(limit, now)
        bucket.set_limit(limit, now)
        return bucket

    async def _handle(self, request: Request) -> Response:
        try:
            return await self._route(request)
        except Exception as exc:  # a bug here must not kill the connection silently
            print(f"postgen.sim: internal error: {exc!r}", file=sys.stderr, flush=True)
            return _error(500, "server_error", f"simulator bug: {exc!r}")

    async def _route(self, request: Request) -> Response:
        path, method = request.path.rstrip("/") or "/", request.method
        if path in _CHAT_PATHS:
            if method != "POST":
                return _error(405, "invalid_request_error", "use POST")
            return await self._chat(request)
        if path in _MODEL_PATHS and method == "GET":
            return self._check_auth(request) or self._models()
        if path == "/stats" and method == "GET":
            return Response(200, self.stats())
        if path == "/stats/reset" and method == "POST":
            self.reset_stats()
            return Response(200, self.stats())
        if path == "/health":
            return Response(200, {"status": "ok"})
        return _error(404, "invalid_request_error", f"no route {method} {path}", "not_found")

    def _check_auth(self, request: Request) -> Response | None:
        key = self.config.api_key
        if key is not None and request.headers.get("authorization", "") != f"Bearer {key}":
            return _error(401, "invalid_request_error", "Incorrect API key.", "invalid_api_key")
        return None

    def _models(self) -> Response:
        names = self.config.models or DEFAULT_MODELS
        data = [
            {"id": n, "object": "model", "created": 0, "owned_by": "postgen-sim"} for n in names
        ]
        return Response(200, {"object": "list", "data": data})

    # --- chat completions ------------------------------------------------------------------

    async def _chat(self, request: Request) -> Response:
        self._stats.enter()
        try:
            response = await self._complete(request)
        finally:
            self._stats.leave()
        self._stats.by_status[response.status] += 1
        response.headers.update(self._rate_headers())
        return response

    async def _complete(self, request: Request) -> Response:
        config = self.config
        try:
            body = json.loads(request.body)
        except ValueError:
            return _error(400, "invalid_request_error", "body is not JSON", "invalid_json")
        if not isinstance(body, dict):
            return _error(400, "invalid_request_error", "body must be a JSON object")
        denied = self._check_auth(request)
        if denied is not None:
            return denied
        if config.insufficient_quota:
            message = "You exceeded your current quota, please check your plan and billing."
            return _error(429, "insufficient_quota", message, "insufficient_quota")
        model, messages = body.get("model"), body.get("messages")
        if not isinstance(model, str) or not isinstance(messages, list) or not messages:
            return _error(400, "invalid_request_error", "'model' and 'messages' are required")
        if config.models and model not in config.models:
            message = f"The model `{model}` does not exist or you do not have access to it."
            return _error(404, "invalid_request_error", message, "model_not_found")
        reply = generate(body, config.seed)
        self._stats.by_kind[reply.kind] += 1
        prompt_text = "".join(
            message_text(m.get("content")) for m in messages if isinstance(m, dict)
        )
        prompt_tokens = estimate_tokens(prompt_text)
        completion_tokens = estimate_tokens(reply.content)
        limited = self._rate_limit(prompt_tokens + completion_tokens)
        if limited is not None:
            return limited
        counter = self._counter
        self._counter += 1
        fault = draw_fault(config, counter)
        if fault is not Fault.NONE:
            self._stats.faults[fault.value] += 1
        if fault is Fault.ERROR:
            await self._sleep(config.ttft_s * config.time_scale)
            return _error(500, "server_error", "The server had an error processing your request.")
        if fault is Fault.HANG:
            await asyncio.sleep(config.hang_s)  # real seconds: meant to outlast client timeouts
            return _error(504, "timeout", "The request timed out.", "timeout")
        try:
            await self._gate.acquire()
        except Overloaded:
            return _error(503, "overloaded", "The engine is currently overloaded.", "overloaded")
        self._stats.start_processing()
        try:
            latency = config.ttft_s + config.per_token_s * completion_tokens
            await self._sleep(latency * config.time_scale)
        finally:
            self._stats.stop_processing()
            self._gate.release()
        content = reply.content
        if fault is Fault.MALFORMED and reply.is_json:
            content = truncate_json(content, counter)
        self._stats.prompt_tokens += prompt_tokens
        self._stats.completion_tokens += completion_tokens
        usage = (prompt_tokens, completion_tokens)
        return Response(200, self._completion(model, counter, content, reply.finish_reason, usage))

    @staticmethod
    async def _sleep(seconds: float) -> None:
        if seconds > 0:
            await asyncio.sleep(seconds)

    def _rate_limit(self, tokens: int) -> Response | None:
        now = self._loop.time()
        burst_left = burst_429_left(self.config, now - self._start)
        waits = {
            "requests": self._rpm.wait_for(1, now) if self._rpm else 0.0,
            "tokens": self._tpm.wait_for(tokens, now) if self._tpm else 0.0,
        }
        if burst_left <= 0 and max(waits.values()) <= 0:
            if self._rpm:
                self._rpm.take(1, now)
            if self._tpm:
                self._tpm.take(tokens, now)
            return None
        wait = max(burst_left, *waits.values())
        kind = "requests" if burst_left > 0 or waits["requests"] >= waits["tokens"] else "tokens"
        bucket = self._rpm if kind == "requests" else self._tpm
        limit = f"Limit {bucket.limit}" if bucket else "burst window"
        message = (
            f"Rate limit reached for {kind} per min: {limit}. Please try again in {wait:.3f}s."
        )
        response = _error(429, kind, message, "rate_limit_exceeded")
        if self.config.retry_after:
            response.headers["retry-after"] = _seconds(wait)
            response.headers["retry-after-ms"] = str(math.ceil(wait * 1000))
        return response

    def _rate_headers(self) -> dict[str, str]:
        if not self.config.rate_headers:
            return {}
        now = self._loop.time()
        headers: dict[str, str] = {}
        for name, bucket in (("requests", self._rpm), ("tokens", self._tpm)):
            if bucket is not None:
                headers[f"x-ratelimit-limit-{name}"] = str(bucket.limit)
                headers[f"x-ratelimit-remaining-{name}"] = str(bucket.remaining(now))
                headers[f"x-ratelimit-reset-{name}"] = format_duration(bucket.reset_in(now))
        return headers

    @staticmethod
    def _completion(
        model: str, counter: int, content: str, finish: str, usage: tuple[int, int]
    ) -> dict[str, Any]:
        prompt, completion = usage
        return {
            "id": f"chatcmpl-sim{counter:08d}",
            "object": "chat.completion",
            "created": int(time.time()),
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
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }


async def serve(config: SimConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> SimApp:
    """Start a simulator in the running loop; `await app.aclose()` (or `async with`) stops it."""
    app = SimApp(config)
    await app.start(host, port)
    return app
