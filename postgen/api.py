"""postgen as a library: one call composes the shipped config, checks it, runs, returns.

    import postgen
    result = postgen.generate("Zero-downtime database migrations", iterations=3)
    print(result.post.title if result.post else result.error)

Settings are the command line's keys: `iterations=3`, `parallel=True`, nested ones as a
dict (`stage={"score": {"concurrency": 10}}`) or as Hydra overrides (`overrides=[...]`).
Bad settings raise `ConfigError` with the one line the command line would print.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from postgen.cli.argv import hydra_quote
from postgen.cli.compose import compose as compose_overrides
from postgen.cli.outputs import check_writable, write_outputs
from postgen.config import Settings
from postgen.engine.session import call_store, open_endpoint, run_async
from postgen.engine.sync import run_sync
from postgen.llm import api_key_from_env
from postgen.observe.result import RunResult

__all__ = ["agenerate", "compose", "generate"]


def compose(overrides: Sequence[str] = (), /, **settings: Any) -> Settings:
    """Typed settings: the shipped config with Hydra `overrides` and `settings` applied."""
    return compose_overrides([*overrides, *_as_overrides(settings)])


def generate(
    topic: str | None = None,
    /,
    *,
    out_dir: str | os.PathLike[str] | None = None,
    overrides: Sequence[str] = (),
    **settings: Any,
) -> RunResult:
    """Write a post about `topic`; also from code whose event loop is running (a notebook).

    With `out_dir`, post.md, the JSONL files and run.json are written there, as a run dir.
    """
    return run_sync(lambda: agenerate(topic, out_dir=out_dir, overrides=overrides, **settings))


async def agenerate(
    topic: str | None = None,
    /,
    *,
    out_dir: str | os.PathLike[str] | None = None,
    overrides: Sequence[str] = (),
    **settings: Any,
) -> RunResult:
    """`generate` for async code."""
    if topic is not None:
        settings = {**settings, "topic": topic}
    resolved = compose(overrides, **settings)
    directory = None if out_dir is None else Path(out_dir)
    if directory is not None:
        check_writable(directory)
    api_key = api_key_from_env(resolved.llm.api_key_env)
    with call_store(resolved) as store, open_endpoint(resolved, api_key) as endpoint:
        result = await run_async(resolved, endpoint, store=store)
    if directory is not None:
        write_outputs(result, directory, exit_code=0 if result.produced else 1)
    return result


def _as_overrides(settings: Mapping[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, value in settings.items():
        if isinstance(value, Mapping):
            out += _as_overrides(value, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}={_hydra_value(value)}")
    return out


def _hydra_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(_hydra_value(v) for v in value) + "]"
    return hydra_quote(str(value))
