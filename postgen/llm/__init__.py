"""The LLM seam: one client, one request type, one completion type.

OpenAI-compatible chat completions over HTTP; every outcome is classified here, once.
May import: domain, errors. Nothing else of postgen.
"""

from postgen.llm.client import ChatClient, api_key_from_env
from postgen.llm.types import ChatRequest, Completion, Message, Usage

__all__ = ["ChatClient", "ChatRequest", "Completion", "Message", "Usage", "api_key_from_env"]
