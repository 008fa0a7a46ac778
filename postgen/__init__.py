"""postgen: marketing blog posts from LLMs, as fast as the provider's limits allow.

    result = postgen.generate("Zero-downtime database migrations", iterations=3)

The names below load on first use, so `import postgen` stays cheap (no Hydra, no HTTP client,
no Prometheus until a run needs them). postgen logs through loguru under the name "postgen",
disabled by default as a library should be: `logger.enable("postgen")` shows its records in
your sinks. The command line enables it and adds its own.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from loguru import logger

if TYPE_CHECKING:
    from postgen.api import agenerate, compose, generate
    from postgen.cli.compose import load_settings
    from postgen.cli.run import execute
    from postgen.config import Settings
    from postgen.domain import ArticleCandidate, ArticleCard, Brief, CardScore, JudgeVote, Post
    from postgen.engine.session import Endpoint, open_endpoint, run, run_async
    from postgen.errors import ConfigError, LLMError, PostgenError, RunAborted
    from postgen.llm import ChatClient, ChatRequest, Completion
    from postgen.observe.result import RunResult

__all__ = [
    "ArticleCandidate",
    "ArticleCard",
    "Brief",
    "CardScore",
    "ChatClient",
    "ChatRequest",
    "Completion",
    "ConfigError",
    "Endpoint",
    "JudgeVote",
    "LLMError",
    "Post",
    "PostgenError",
    "RunAborted",
    "RunResult",
    "Settings",
    "agenerate",
    "compose",
    "execute",
    "generate",
    "load_settings",
    "open_endpoint",
    "run",
    "run_async",
]

__version__ = "0.1.0"

logger.disable("postgen")

# Where each public name lives; `__getattr__` imports it the first time it is asked for.
_HOMES = {
    "agenerate": "postgen.api",
    "compose": "postgen.api",
    "generate": "postgen.api",
    "ArticleCandidate": "postgen.domain",
    "ArticleCard": "postgen.domain",
    "Brief": "postgen.domain",
    "CardScore": "postgen.domain",
    "JudgeVote": "postgen.domain",
    "Post": "postgen.domain",
    "ChatClient": "postgen.llm",
    "ChatRequest": "postgen.llm",
    "Completion": "postgen.llm",
    "ConfigError": "postgen.errors",
    "LLMError": "postgen.errors",
    "PostgenError": "postgen.errors",
    "RunAborted": "postgen.errors",
    "Endpoint": "postgen.engine.session",
    "open_endpoint": "postgen.engine.session",
    "run_async": "postgen.engine.session",
    "run": "postgen.engine.session",
    "RunResult": "postgen.observe.result",
    "Settings": "postgen.config",
    "execute": "postgen.cli.run",
    "load_settings": "postgen.cli.compose",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'postgen' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # next time, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
