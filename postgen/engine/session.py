"""A session: one endpoint (a simulator started for `llm=sim`), its client, its preflight.

It builds the run's parts once (`postgen.engine.parts`) and hands them to the pipeline.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass

from loguru import logger

from postgen.config import Settings
from postgen.engine import pipeline
from postgen.engine.caller import CallStore, Complete
from postgen.engine.parts import build_parts, run_shape
from postgen.errors import (
    AuthError,
    ConnectionFailed,
    LLMError,
    QuotaExceeded,
    ReplyTooLarge,
    RunAborted,
    Timeout,
)
from postgen.llm import ChatClient
from postgen.llm.client import safe_url
from postgen.observe.result import RunResult
from postgen.observe.stats import RunStats
from postgen.store.sqlite import SQLiteStore, open_store
from scheduler import Observer

__all__ = [
    "Endpoint",
    "call_store",
    "chosen_model",
    "client_for",
    "open_endpoint",
    "preflight",
    "run",
    "run_async",
]


@dataclass(frozen=True, slots=True)
class Endpoint:
    base_url: str
    api_key: str | None  # never logged, never written
    name: str | None = None  # what names it in messages and store keys; default: base_url

    @property
    def identity(self) -> str:
        return self.name or safe_url(self.base_url.rstrip("/"))


def call_store(
    settings: Settings, *, redact: Callable[[str], str] | None = None
) -> AbstractContextManager[SQLiteStore | None]:
    """The durable store of finished calls, unless `cache.enabled=false`.

    `redact` (the run's `Redactor`) blanks secrets in every reply before it is stored.
    """
    if not settings.cache.enabled:
        return nullcontext()
    return open_store(settings.cache.path, redact=redact)


@contextmanager
def open_endpoint(settings: Settings, api_key: str | None) -> Iterator[Endpoint]:
    """The endpoint to talk to; for `llm=sim`, a simulator started on a free loopback port."""
    if settings.llm.base_url:
        yield Endpoint(settings.llm.base_url, api_key)
        return
    from postgen.engine.simulator import sim_config
    from postgen.sim import SimServer

    with SimServer(sim_config(settings)) as server:
        logger.info("simulated provider on {}", server.base_url)
        # Named by its profile, not its port: calls stored by one run replay in the next, and
        # never in a run against a simulator that answers differently.
        profile = settings.llm.sim.profile
        yield Endpoint(
            server.base_url, api_key, name="sim" if profile == "sim" else f"sim-{profile}"
        )


async def run(
    settings: Settings,
    complete: Complete,
    *,
    endpoint: str,
    observers: Sequence[Observer] = (),
    store: CallStore | None = None,
    stats: RunStats | None = None,
) -> RunResult:
    """Build the run's parts once from `settings`, then run the pipeline with them.

    `complete` sends one request to the endpoint that `endpoint` names (no preflight here:
    `run_async` does that). Pass `stats` to watch the run while it goes (progress display,
    metrics collectors).
    """
    stats = stats if stats is not None else RunStats()
    parts = build_parts(
        settings, complete, endpoint=endpoint, stats=stats, store=store, observers=observers
    )
    return await pipeline.run(parts, run_shape(settings), RunResult.empty(settings, stats))


async def run_async(
    settings: Settings,
    endpoint: Endpoint,
    *,
    observers: Sequence[Observer] = (),
    store: CallStore | None = None,
    stats: RunStats | None = None,
) -> RunResult:
    """Check the endpoint, then run the pipeline against it."""
    client = client_for(settings, endpoint)
    try:
        settings.llm.model = await preflight(client, settings.llm.model)
        return await run(
            settings,
            client.complete,
            endpoint=endpoint.identity,
            observers=observers,
            store=store,
            stats=stats,
        )
    except RunAborted as exc:
        return RunResult.aborted(settings, str(exc))
    except asyncio.CancelledError:  # interrupted before the pipeline started
        if (task := asyncio.current_task()) is not None:
            task.uncancel()
        result = RunResult.aborted(settings, None)
        result.stopped = "interrupted"
        return result
    finally:
        # A signal landing while the client closes must not turn a finished run into a
        # traceback: the pipeline's result is what matters now.
        with contextlib.suppress(asyncio.CancelledError):
            await client.aclose()


def client_for(settings: Settings, endpoint: Endpoint) -> ChatClient:
    """The HTTP client for an endpoint; close it with `aclose()`."""
    llm = settings.llm
    return ChatClient(
        endpoint.base_url,
        api_key=endpoint.api_key,
        connect_timeout_s=llm.connect_timeout_s,
        stream=llm.stream,
        stall_s=llm.stall_s,
        queue_timeout_s=llm.queue_timeout_s,
        max_reply_bytes=llm.max_reply_bytes,
    )


async def preflight(client: ChatClient, model: str | None, *, tries: int = 3) -> str:
    """Fail within seconds, with one clear line, when the endpoint is unreachable or refuses us.

    Returns the model to use: `model`, or (when null) the first one the endpoint lists.
    """
    models: list[str] = []
    for attempt in range(1, tries + 1):
        try:
            models = await client.list_models()
            break
        except ConnectionFailed as exc:
            if attempt == tries:
                raise RunAborted(str(exc)) from None
            await asyncio.sleep(0.5 * attempt)
        except Timeout as exc:  # it already waited long enough: a hung endpoint stays hung
            raise RunAborted(str(exc)) from None
        except (AuthError, QuotaExceeded) as exc:
            raise RunAborted(f"{client.where}: {exc}") from None
        except ReplyTooLarge as exc:
            logger.warning("{}; going on as if it listed none", exc)
            break
        except LLMError:
            break  # not every OpenAI-compatible server lists its models
    return chosen_model(client.where, model, models)


def chosen_model(where: str, model: str | None, models: list[str]) -> str:
    """The configured model, else the endpoint's first; a clear stop when neither exists."""
    if model is None:
        if not models:
            raise RunAborted(
                f"{where}: llm.model is null and the endpoint lists no model (/v1/models); "
                "name one with llm.model=..."
            )
        if len(models) > 1:
            logger.info("{} serves {} models; using the first, {!r}", where, len(models), models[0])
        logger.info("model: {} (listed by {})", models[0], where)
        return models[0]
    if models and model not in models:
        # llama-cpp-python answers any name with its one model; others refuse it at once.
        logger.warning("{} does not list model {!r}; trying it anyway", where, model)
    return model
