"""postgen: marketing blog posts from LLMs, as fast as the provider's rate limits allow."""

from postgen.app import Endpoint, execute, open_endpoint, run_async
from postgen.config import Settings, load_settings
from postgen.domain import (
    ArticleCandidate,
    ArticleCard,
    Brief,
    CardScore,
    JudgeVote,
    Post,
)
from postgen.errors import ConfigError, LLMError, PostgenError, RunAborted
from postgen.llm import ChatClient, ChatRequest, Completion
from postgen.pipeline import RunResult, run

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
    "execute",
    "load_settings",
    "open_endpoint",
    "run",
    "run_async",
]

__version__ = "0.1.0"
