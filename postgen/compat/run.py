"""Machinery behind `postgen.compat.legacy`: which LLM to use, and one stage run synchronously.

Each call of a legacy function composes nothing and shares nothing mutable: it copies the
configured settings, opens the endpoint (for `llm=sim`, a fresh in-process simulator), builds
one governor and one `StageCaller`, and runs the stage function over the items with
`run_ordered` on its own event loop.
"""

from __future__ import annotations

import copy
import os
import shlex
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from postgen.cli.compose import compose
from postgen.config import Settings
from postgen.engine.caller import StageCaller
from postgen.engine.parts import stage_callers
from postgen.engine.session import Endpoint, client_for, open_endpoint, preflight
from postgen.engine.sync import run_sync
from postgen.errors import FatalLLMError, RunAborted
from postgen.llm import api_key_from_env
from postgen.observe.stats import RunStats, StageStats, describe_failure
from scheduler import EndpointStop, OrderedResult, run_ordered

__all__ = [
    "OVERRIDES_ENV",
    "ItemError",
    "StageRun",
    "configure",
    "current_settings",
    "last_errors",
    "run_stage",
    "run_sync",
]

OVERRIDES_ENV = "POSTGEN_OVERRIDES"

I = TypeVar("I")  # noqa: E741
T = TypeVar("T")

_lock = threading.Lock()
_configured: Settings | None = None
_last = threading.local()


@dataclass(frozen=True, slots=True)
class ItemError:
    """One item a legacy function skipped, seed-style (`item_id`, `error`, `timestamp`)."""

    stage: str
    item_id: int
    error: str
    timestamp: float


@dataclass
class StageRun:
    """What one legacy call did: results in input order (None where failed) and its stats."""

    results: list[Any]
    errors: list[ItemError]
    stats: StageStats
    wall_seconds: float
    ceiling: int


def configure(overrides: Sequence[str] | None = None) -> Settings:
    """Choose the config the legacy functions use: Hydra overrides of the packaged conf/.

    `configure(["llm=openai", "llm.model=gpt-4o-mini"])` talks to OpenAI from then on;
    `configure()` goes back to the default (the `POSTGEN_OVERRIDES` environment variable,
    else the built-in simulator). Returns the composed settings.
    """
    global _configured
    settings = _compose(_env_overrides() if overrides is None else list(overrides))
    with _lock:
        _configured = settings if overrides is not None else None
    return settings


def current_settings() -> Settings:
    """A private copy of the settings in use: configured, else from `POSTGEN_OVERRIDES`."""
    global _configured
    with _lock:
        settings = _configured
    if settings is None:
        settings = _compose(_env_overrides())
        with _lock:
            _configured = _configured or settings
    return copy.deepcopy(settings)


def last_errors() -> list[ItemError]:
    """The items the last legacy call made from this thread skipped, with their reasons."""
    errors: list[ItemError] = getattr(_last, "errors", [])
    return list(errors)


def run_stage(
    stage: str,
    ids: Sequence[int],
    items: Sequence[I],
    work: Callable[[I, StageCaller, Settings], Awaitable[T]],
    *,
    ceiling: int | None,
    on_done: Callable[[int, T | None, BaseException | None], None] | None = None,
) -> StageRun:
    """Run `work` on every item through one stage's lane; `ceiling=None` means sequential."""
    settings = current_settings()
    settings.parallel = ceiling is not None and ceiling > 1
    settings.stage.get(stage).concurrency = ceiling or 1
    api_key = api_key_from_env(settings.llm.api_key_env, required=settings.llm.api_key_required)
    started = time.monotonic()
    with open_endpoint(settings, api_key) as endpoint:
        outcome, stats = run_sync(lambda: _drive(settings, endpoint, stage, items, work, on_done))
    errors = [
        ItemError(stage, ids[i], describe_failure(exc), time.time())
        for i, exc in sorted(outcome.errors.items())
    ]
    _last.errors = errors
    return StageRun(
        outcome.results,
        errors,
        stats[stage],
        time.monotonic() - started,
        settings.stage_concurrency(stage),
    )


async def _drive(
    settings: Settings,
    endpoint: Endpoint,
    stage: str,
    items: Sequence[I],
    work: Callable[[I, StageCaller, Settings], Awaitable[T]],
    on_done: Callable[[int, T | None, BaseException | None], None] | None,
) -> tuple[OrderedResult[T], RunStats]:
    stats = RunStats()
    client = client_for(settings, endpoint)
    try:
        settings.llm.model = await preflight(client, settings.llm.model)
        caller = stage_callers(settings, client.complete, endpoint.identity, stats)[stage]
        stage_stats = stats[stage]

        def settle(i: int, result: T | None, error: BaseException | None) -> None:
            stage_stats.items += 1
            stage_stats.record_item(str(i), error)
            if on_done is not None:
                on_done(i, result, error)

        outcome = await run_ordered(
            items,
            lambda item: work(item, caller, settings),
            on_done=settle,
            second_pass=False,  # the lane already makes one serialised last attempt
            fatal=(FatalLLMError, RunAborted, EndpointStop),
        )
    finally:
        await client.aclose()
    return outcome, stats


def _env_overrides() -> list[str]:
    return shlex.split(os.environ.get(OVERRIDES_ENV, ""))


def _compose(overrides: list[str]) -> Settings:
    return compose(overrides)
