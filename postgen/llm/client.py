"""An async OpenAI-compatible chat-completions client that classifies every outcome once."""

from __future__ import annotations

import json
import os
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from postgen.errors import (
    AuthError,
    BadRequest,
    ConfigError,
    ConnectionFailed,
    InvalidOutput,
    LLMError,
    ModelNotFound,
    Overloaded,
    QuotaExceeded,
    RateLimited,
    ServerError,
    Timeout,
)
from postgen.llm.headers import retry_after_seconds
from postgen.llm.types import ChatRequest, Completion, Usage

__all__ = [
    "PREFLIGHT_TIMEOUT_S",
    "ChatClient",
    "api_key_from_env",
    "error_for_response",
    "safe_url",
]

_POOLS = 8  # connection pools per client; requests go to the least busy
PREFLIGHT_TIMEOUT_S = 10.0  # the endpoint check must fail within seconds, not hang


def api_key_from_env(env_var: str | None) -> str | None:
    """The API key from the named environment variable; a named but unset variable is an error."""
    if not env_var:
        return None
    key = os.environ.get(env_var, "").strip()
    if not key:
        raise ConfigError("llm.api_key_env", f"environment variable {env_var} is not set")
    return key


class ChatClient:
    """One endpoint. `complete` returns a Completion or raises an LLMError subclass."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        connect_timeout_s: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.where = safe_url(self.base_url)  # what messages name: never a credential
        self._secret = api_key
        headers = {"content-type": "application/json"}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        # httpcore's pool scans all its connections for every request, so one pool with
        # hundreds in flight costs O(n^2) CPU; a few smaller pools keep each scan short.
        self._pools = [
            httpx.AsyncClient(
                base_url=self.base_url,
                headers=headers,
                # The scheduler bounds each attempt; httpx only bounds connecting.
                timeout=httpx.Timeout(None, connect=connect_timeout_s),
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=512),
                transport=transport,
            )
            for _ in range(1 if transport is not None else _POOLS)
        ]
        self._busy = [0] * len(self._pools)
        self._http = self._pools[0]

    async def complete(self, request: ChatRequest) -> Completion:
        busy = self._busy
        pool = busy.index(min(busy))
        busy[pool] += 1
        started = time.monotonic()
        try:
            response = await self._pools[pool].post("/chat/completions", json=request.payload())
        except httpx.TimeoutException as exc:
            raise Timeout(f"{self.where}: {type(exc).__name__}") from None
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"cannot reach {self.where}: {_short(exc)}") from None
        finally:
            busy[pool] -= 1
        latency = time.monotonic() - started
        if response.status_code != 200:
            raise self._error(response)
        return _completion(response, request, latency)

    async def list_models(self, *, timeout_s: float = PREFLIGHT_TIMEOUT_S) -> list[str]:
        """The models the endpoint serves (also a cheap reachability and auth check)."""
        try:
            response = await self._http.get("/models", timeout=timeout_s)
        except httpx.TimeoutException:
            raise Timeout(f"{self.where} did not answer within {timeout_s:g} s") from None
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"cannot reach {self.where}: {_short(exc)}") from None
        if response.status_code != 200:
            raise self._error(response)
        try:
            data = (response.json() or {}).get("data") or []
            return [str(m.get("id")) for m in data if isinstance(m, dict)]
        except (ValueError, AttributeError, TypeError):
            return []

    def _error(self, response: httpx.Response) -> LLMError:
        error = error_for_response(response.status_code, response.headers, response.content)
        if self._secret and self._secret in str(error):
            # Some providers echo the rejected key back; it must not reach run.json or logs.
            error.args = (str(error).replace(self._secret, "***"),)
        return error

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()


def safe_url(url: str) -> str:
    """The URL without user:password@, for messages and store keys."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


def error_for_response(status: int, headers: httpx.Headers, body: bytes) -> LLMError:
    """Classify a non-200 answer into the error tree."""
    code, message = _error_fields(body)
    where = f"HTTP {status}" + (f" {code}" if code else "")
    detail = f"{where}: {message}" if message else where
    if status == 429:
        if code == "insufficient_quota":
            return QuotaExceeded(f"the account has no quota left ({detail})", status=status)
        return RateLimited(detail, retry_after=retry_after_seconds(headers))
    if status in (401, 403):
        return AuthError(f"the endpoint refused the API key ({detail})", status=status)
    if status == 404:
        if code == "model_not_found" or "model" in message.lower():
            return ModelNotFound(f"unknown model ({detail})", status=status)
        return BadRequest(f"not found ({detail})", status=status)
    if status in (503, 529):
        return Overloaded(detail, status=status)
    if status == 408:
        return Timeout(detail, status=status)
    if status >= 500 or status in (409, 425):
        return ServerError(detail, status=status)
    return BadRequest(f"the endpoint rejected the request ({detail})", status=status)


def _completion(response: httpx.Response, request: ChatRequest, latency: float) -> Completion:
    try:
        data: Any = response.json()
        choice = data["choices"][0]
        text = choice["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise ServerError("malformed response body", status=200) from None
    if not isinstance(text, str):
        raise InvalidOutput("the response has no text content", status=200)
    usage = data.get("usage") or {}
    return Completion(
        text=text,
        usage=Usage(
            input_tokens=int(usage.get("prompt_tokens") or _estimate(request)),
            output_tokens=int(usage.get("completion_tokens") or len(text) // 4 + 1),
        ),
        latency_s=latency,
        model=str(data.get("model") or request.model),
        headers={k.lower(): v for k, v in response.headers.items()},
    )


def _estimate(request: ChatRequest) -> int:
    # ~4 characters a token for English; good enough where the server reports no usage.
    return sum(len(m.get("content", "")) for m in request.messages) // 4 + 1


def _error_fields(body: bytes) -> tuple[str, str]:
    try:
        err = json.loads(body).get("error") or {}
    except (ValueError, AttributeError):
        return "", body[:200].decode("utf-8", "replace").strip()
    if not isinstance(err, dict):
        return "", str(err)[:200]
    code = str(err.get("code") or err.get("type") or "")
    return code, str(err.get("message") or "")[:200]


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
