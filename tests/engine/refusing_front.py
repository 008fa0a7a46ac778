"""A real HTTP front on loopback that answers some chat requests with a chosen refusal and
forwards everything else to a simulator: for refusals the simulator cannot make (a garbage or a
day-long Retry-After)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from postgen.sim.http import Request, Response, serve_connection

__all__ = ["RefusingFront"]

Refusal = tuple[int, dict[str, Any], dict[str, str]]  # status, JSON body, headers
_FORWARDED = ("x-ratelimit-", "retry-after", "anthropic-ratelimit-")


class RefusingFront:
    """`refuse(n)` decides for the n-th chat request (from 0): a Refusal, or None to forward."""

    def __init__(self, upstream_root: str, refuse: Callable[[int], Refusal | None]) -> None:
        self.upstream_root = upstream_root
        self.refuse = refuse
        self.chats = 0
        self.refused = 0
        self._server: asyncio.Server | None = None
        self._http = httpx.AsyncClient(timeout=60)

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}/v1"

    async def __aenter__(self) -> RefusingFront:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        await self._http.aclose()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve_connection(reader, writer, self._handle)

    async def _handle(self, request: Request) -> Response:
        if request.path.endswith("/chat/completions"):
            n, self.chats = self.chats, self.chats + 1
            refusal = self.refuse(n)
            if refusal is not None:
                self.refused += 1
                return Response(*refusal)
        upstream = await self._http.request(
            request.method,
            self.upstream_root + request.path,
            content=request.body,
            headers={"content-type": "application/json"},
        )
        headers = {k: v for k, v in upstream.headers.items() if k.startswith(_FORWARDED)}
        return Response(upstream.status_code, upstream.json(), headers)
