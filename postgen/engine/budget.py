"""The budget guard: no new request once `budget.max_requests` or `budget.max_tokens` is reached.

Checked by `StageCaller` before each call that the store cannot answer. Requests are the calls
sent plus their retries; tokens are the input and output tokens of finished calls. A call
already in flight finishes (its answer is paid for and goes into the store), so a run may end
a few tokens above `max_tokens`.
"""

from __future__ import annotations

from loguru import logger

from postgen.config import BudgetConfig
from postgen.errors import BudgetExhausted
from postgen.observe.stats import RunStats

__all__ = ["Budget"]


class Budget:
    """Counts requests as they are sent; `spent` says why dispatching stopped, once it has."""

    __slots__ = ("_config", "_sent", "_stats", "spent")

    def __init__(self, config: BudgetConfig, stats: RunStats) -> None:
        self._config = config
        self._stats = stats
        self._sent = 0
        self.spent: str | None = None

    def reserve(self) -> None:
        """Count one request about to be sent, or raise `BudgetExhausted`."""
        if self.spent is None:
            self.spent = self._check()
            if self.spent is not None:
                logger.warning("budget reached: {}; no new requests are sent", self.spent)
        if self.spent is not None:
            raise BudgetExhausted(self.spent)
        self._sent += 1

    @property
    def requests(self) -> int:
        """Requests sent so far, retries included."""
        return self._sent + sum(st.retries for st in self._stats.stages.values())

    def _check(self) -> str | None:
        limit = self._config.max_requests
        if limit is not None and self.requests >= limit:
            return f"budget.max_requests={limit} reached ({self.requests} requests sent)"
        limit = self._config.max_tokens
        if limit is not None and (used := self._stats.total_tokens()) >= limit:
            return f"budget.max_tokens={limit} reached ({used} tokens used)"
        return None
