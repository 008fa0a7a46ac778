"""The simulated provider's server: lifecycle, routes, the limit schedule, `/stats`."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from .chat import ChatCompletions
from .config import DEFAULT_MODELS, ScheduleStep, SimConfig
from .http import Request, Response, StreamingResponse, TrackedReader, serve_connection
from .limits import TokenBucket
from .state import State

__all__ = ["SimApp", "serve"]

_CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
_MODEL_PATHS = ("/v1/models", "/models")
_READ_LIMIT = 2**16


def _error(status: int, type_: str, message: str, code: str | None = None) -> Response:
    return Response(status, {"error": {"message": message, "type": type_, "code": code}})


class SimApp:
    """One simulated endpoint: call `start` inside a running loop, `aclose` to stop it."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self.server: asyncio.Server | None = None
        self._loop = asyncio.get_running_loop()
        self._state = State.create(self.config)
        self._start = self._state.start
        self._chat = ChatCompletions(self._state)
        self._connections: set[asyncio.Task[Any]] = set()
        self._schedule_task: asyncio.Task[None] | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> asyncio.Server:
        self.server = await self._loop.create_server(self._protocol, host, port, backlog=1024)
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
        state = self._state
        limits = {
            "rpm": state.rpm.limit if state.rpm else None,
            "tpm": state.tpm.limit if state.tpm else None,
            "capacity": state.gate.capacity,
            "queue": state.gate.queue,
            "n_ctx": state.n_ctx,
        }
        extra = {"profile": state.profile.name, "limits": limits}
        return state.stats.snapshot(self._loop.time(), extra)

    def reset_stats(self) -> None:
        self._state.stats.reset(self._loop.time())

    # --- plumbing --------------------------------------------------------------------------

    def _protocol(self) -> asyncio.StreamReaderProtocol:
        """What `asyncio.start_server` builds, with a reader that notices a client leaving."""
        return asyncio.StreamReaderProtocol(TrackedReader(_READ_LIMIT), self._on_connect)

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
        now, state = self._loop.time(), self._state
        if step.rpm is not None:
            state.rpm = self._retarget(state.rpm, step.rpm, now)
        if step.tpm is not None:
            state.tpm = self._retarget(state.tpm, step.tpm, now)
        if step.capacity is not None:
            state.gate.set_capacity(step.capacity or None)

    def _retarget(self, bucket: TokenBucket | None, limit: int, now: float) -> TokenBucket | None:
        if not limit:
            return None
        if bucket is None:
            return TokenBucket(limit, now, self.config.rate_burst_s)
        bucket.set_limit(limit, now)
        return bucket

    async def _handle(self, request: Request) -> Response | StreamingResponse:
        try:
            return await self._route(request)
        except Exception as exc:  # a bug here must not kill the connection silently
            print(f"postgen.sim: internal error: {exc!r}", file=sys.stderr, flush=True)
            return _error(500, "server_error", f"simulator bug: {exc!r}")

    async def _route(self, request: Request) -> Response | StreamingResponse:
        path, method = request.path.rstrip("/") or "/", request.method
        if path in _CHAT_PATHS:
            if method != "POST":
                return _error(405, "invalid_request_error", "use POST")
            return await self._chat(request)
        if path in _MODEL_PATHS and method == "GET":
            return self._chat.check_auth(request) or self._models()
        if path == "/stats" and method == "GET":
            return Response(200, self.stats())
        if path == "/stats/reset" and method == "POST":
            self.reset_stats()
            return Response(200, self.stats())
        if path == "/health":
            return Response(200, {"status": "ok"})
        return _error(404, "invalid_request_error", f"no route {method} {path}", "not_found")

    def _models(self) -> Response:
        profile = self._state.profile
        if profile.model_path is not None:  # llama-cpp-python: the model file, as given
            model = {"id": profile.model_path, "object": "model", "owned_by": profile.owned_by}
            return Response(200, {"object": "list", "data": [{**model, "permissions": []}]})
        names = self.config.models or DEFAULT_MODELS
        data = [
            {"id": n, "object": "model", "created": 0, "owned_by": profile.owned_by} for n in names
        ]
        return Response(200, {"object": "list", "data": data})


async def serve(config: SimConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> SimApp:
    """Start a simulator in the running loop; `await app.aclose()` (or `async with`) stops it."""
    app = SimApp(config)
    await app.start(host, port)
    return app
