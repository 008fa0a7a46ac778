"""One run, from typed settings to files on disk. `__main__` calls `execute`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

from postgen.calls import CallStore
from postgen.config import Settings
from postgen.errors import AuthError, ConnectionFailed, LLMError, QuotaExceeded, RunAborted
from postgen.llm import ChatClient, api_key_from_env
from postgen.logs import run_logging
from postgen.outputs import write_outputs
from postgen.pipeline import RunResult, run
from postgen.report import summary_table
from postgen.stats import RunStats
from scheduler import Observer

__all__ = ["Endpoint", "execute", "open_endpoint", "run_async"]


@dataclass(frozen=True, slots=True)
class Endpoint:
    base_url: str
    api_key: str | None  # never logged, never written


def execute(settings: Settings, out_dir: Path) -> int:
    """Run the pipeline, write every output, print the summary; returns the exit code."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with run_logging(out_dir, settings.log_level, quiet=settings.quiet):
        api_key = api_key_from_env(settings.llm.api_key_env)
        logger.info("run dir: {}", out_dir)
        with open_endpoint(settings, api_key) as endpoint:
            result = asyncio.run(run_async(settings, endpoint))
        write_outputs(result, out_dir)
        logger.info("summary\n{}", summary_table(result))
        if result.error:
            logger.error("run failed: {}", result.error)
        elif result.post is not None:
            logger.success("post written: {}", out_dir / "post.md")
        return 0 if result.status in ("ok", "partial") else 1


@contextmanager
def open_endpoint(settings: Settings, api_key: str | None) -> Iterator[Endpoint]:
    """The endpoint to talk to; for `llm=sim`, a simulator started on a free loopback port."""
    if settings.llm.base_url:
        yield Endpoint(settings.llm.base_url, api_key)
        return
    from postgen.sim import SimServer
    from postgen.simconfig import sim_config

    with SimServer(sim_config(settings)) as server:
        logger.info("simulated provider on {}", server.base_url)
        yield Endpoint(server.base_url, api_key)


async def run_async(
    settings: Settings,
    endpoint: Endpoint,
    *,
    observers: Sequence[Observer] = (),
    store: CallStore | None = None,
    stats: RunStats | None = None,
) -> RunResult:
    """Check the endpoint, then run the pipeline against it."""
    client = ChatClient(
        endpoint.base_url,
        api_key=endpoint.api_key,
        connect_timeout_s=settings.llm.connect_timeout_s,
    )
    try:
        await preflight(client, settings.llm.model)
        return await run(
            settings,
            client.complete,
            endpoint=endpoint.base_url,
            observers=observers,
            store=store,
            stats=stats,
        )
    except RunAborted as exc:
        return RunResult.aborted(settings, str(exc))
    finally:
        await client.aclose()


async def preflight(client: ChatClient, model: str, *, tries: int = 3) -> None:
    """Fail within seconds, with one clear line, when the endpoint is unreachable or refuses us."""
    for attempt in range(1, tries + 1):
        try:
            models = await client.list_models()
            break
        except ConnectionFailed as exc:
            if attempt == tries:
                raise RunAborted(str(exc)) from None
            await asyncio.sleep(0.5 * attempt)
        except (AuthError, QuotaExceeded) as exc:
            raise RunAborted(f"{client.base_url}: {exc}") from None
        except LLMError:
            return  # not every OpenAI-compatible server lists its models
    if models and model not in models:
        logger.warning("{} does not list model {!r}; trying it anyway", client.base_url, model)
