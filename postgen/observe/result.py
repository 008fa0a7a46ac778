"""What a run produced: every item in input order, the post, the stats and how it ended."""

from __future__ import annotations

from dataclasses import dataclass, field

from postgen.config import Settings
from postgen.domain import ArticleCandidate, ArticleCard, CardScore, Post
from postgen.observe.stats import RunStats

__all__ = ["RunResult"]


@dataclass(repr=False)
class RunResult:
    """Everything a run produced, in input order (None where an item failed)."""

    settings: Settings
    stats: RunStats
    candidates: list[ArticleCandidate | None]
    cards: list[ArticleCard | None]
    scores: list[CardScore | None]
    post: Post | None = None
    error: str | None = None
    wall_seconds: float = 0.0
    stopped: str | None = None  # why dispatching stopped early (budget, interrupt, store)
    notes: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        # asyncio reprs a finished task's result (e.g. in signal bookkeeping); the default
        # dataclass repr would render every article of a large run.
        posted = self.post is not None
        return f"<RunResult {self.status} items={len(self.candidates)} post={posted}>"

    @classmethod
    def empty(cls, settings: Settings, stats: RunStats) -> RunResult:
        """A run before its first item: a slot per item, each still None."""
        n = settings.iterations
        return cls(settings, stats, [None] * n, [None] * n, [None] * n)

    @classmethod
    def aborted(cls, settings: Settings, error: str | None) -> RunResult:
        """A run that stopped before its first item."""
        result = cls.empty(settings, RunStats())
        result.error = error
        return result

    @property
    def status(self) -> str:
        if self.stopped == "interrupted":
            return "interrupted"
        if self.error is not None:
            return "failed"
        if self.stopped == "budget":
            return "partial"  # stopped on purpose, by the user's limit
        if not self.produced:
            return "failed"
        failed = any(s.failed for s in self.stats.stages.values())
        return "partial" if failed or self.stopped else "ok"

    @property
    def produced(self) -> bool:
        """The run's product exists: the post, or candidates when synthesis is off."""
        if self.settings.synthesis:
            return self.post is not None
        return any(c is not None for c in self.candidates)
