"""The postgen error tree, drawn once.

PostgenError
├── ConfigError          bad configuration or input: exit code 2, one line
├── RunAborted           the run cannot go on (fatal LLM error, unreachable endpoint)
├── BudgetExhausted      `budget.*` is spent: no new request is sent
└── LLMError             one LLM call went wrong; classified once, at the client
    ├── RateLimited      429 with an optional Retry-After
    ├── Overloaded       503/529, or the server's queue overflowed
    ├── ServerError      other 5xx
    ├── Timeout          no answer within the per-request timeout
    │   └── Stalled          a reply that started, then sent no byte for the stall bound
    ├── ConnectionFailed the endpoint refused or dropped the connection
    ├── InvalidOutput    a 200 whose content does not parse or validate
    │   └── Truncated        the reply stopped at max_tokens (finish_reason "length")
    ├── ReplyTooLarge    the reply outgrew the reply-size bound while being read
    ├── ContextTooLong   the prompt does not fit the context window: the item fails, not the run
    └── FatalLLMError    retrying cannot help: the run aborts
        ├── AuthError        401/403
        ├── QuotaExceeded    429 insufficient_quota
        ├── ModelNotFound    404 on the model
        ├── UnsupportedFormat the endpoint refuses the structured-output form that was required
        └── BadRequest       other 4xx
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "BadRequest",
    "BudgetExhausted",
    "ConfigError",
    "ConnectionFailed",
    "ContextTooLong",
    "FatalLLMError",
    "InvalidOutput",
    "LLMError",
    "ModelNotFound",
    "Overloaded",
    "PostgenError",
    "QuotaExceeded",
    "RateLimited",
    "ReplyTooLarge",
    "RunAborted",
    "ServerError",
    "Stalled",
    "Timeout",
    "Truncated",
    "UnsupportedFormat",
]


class PostgenError(Exception):
    """Base of every error postgen raises on purpose."""


class ConfigError(PostgenError):
    """A configuration value or input file is wrong; `key` names it."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


class RunAborted(PostgenError):
    """The run stops: continuing would only fail again or cost money for nothing."""


class BudgetExhausted(PostgenError):
    """`budget.max_requests` or `budget.max_tokens` is reached; the run sends nothing more."""

    reason = "budget"


class LLMError(PostgenError):
    """One LLM call failed; `reason` is a bounded label used in metrics."""

    reason = "error"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RateLimited(LLMError):
    reason = "rate_limited"

    def __init__(
        self, message: str, *, status: int | None = 429, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class Overloaded(LLMError):
    """503/529: the server has no room now; `retry_after` is its stated wait, if any."""

    reason = "overloaded"

    def __init__(
        self, message: str, *, status: int | None = 503, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class ServerError(LLMError):
    reason = "server_error"


class Timeout(LLMError):
    reason = "timeout"


class Stalled(Timeout):
    """The server started answering, then sent nothing for the stall bound (`llm.stall_s`)."""

    reason = "stalled"


class ConnectionFailed(LLMError):
    reason = "connection"


class InvalidOutput(LLMError):
    reason = "invalid_output"


class Truncated(InvalidOutput):
    """The reply ended at max_tokens (`finish_reason: length`): it is cut off, not an answer."""

    reason = "truncated"


class ReplyTooLarge(LLMError):
    """The reply grew past `llm.max_reply_bytes` while it was read; reading stopped there."""

    reason = "reply_too_large"

    def __init__(self, message: str, *, status: int | None = None, bytes_read: int = 0) -> None:
        super().__init__(message, status=status)
        self.bytes_read = bytes_read  # what was held when reading stopped


class ContextTooLong(LLMError):
    """The prompt exceeds the model's context window (HTTP 400 `context_length_exceeded`).

    Retrying the same prompt cannot help, and neither is the run broken: that one item fails.
    """

    reason = "context_length"


class FatalLLMError(LLMError):
    reason = "fatal"


class AuthError(FatalLLMError):
    reason = "auth"


class QuotaExceeded(FatalLLMError):
    reason = "quota"


class ModelNotFound(FatalLLMError):
    reason = "model_not_found"


class UnsupportedFormat(FatalLLMError):
    """The endpoint refuses the `response_format` that `llm.structured_output` insists on."""

    reason = "unsupported_format"


class BadRequest(FatalLLMError):
    reason = "bad_request"
