"""The run: wires the stages together. It does not retry, parse config or export metrics.

It is handed what the session built once (`postgen.engine.parts`): a caller per stage, the
budget, the stats they report into, and the run's shape. It reads no settings.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from loguru import logger

from postgen.config import Criterion
from postgen.domain import Brief
from postgen.engine.budget import Budget
from postgen.engine.caller import StageCaller
from postgen.errors import BudgetExhausted, FatalLLMError, RunAborted
from postgen.observe.result import RunResult
from postgen.observe.stats import RunStats, describe_failure
from postgen.stages import extract_card, score_card, select_top, synthesize_post, write_candidate
from scheduler import EndpointStop, run_ordered

__all__ = ["RunParts", "RunShape", "run"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RunParts:
    """What the session builds once and hands down: one caller per stage (their lanes share
    one governor), the budget they draw on, and the stats they report into."""

    endpoint: str  # names the endpoint in a fatal error's message
    callers: Mapping[str, StageCaller]
    budget: Budget
    stats: RunStats


@dataclass(frozen=True, slots=True)
class RunShape:
    """What the pipeline needs to know of the run: its items, how they move, what is asked."""

    brief: Brief
    iterations: int
    votes: int
    top_k: int
    criteria: dict[str, Criterion]
    synthesis: bool
    parallel: bool  # streaming from stage to stage, else the seed's stage-by-stage order
    concurrency: Mapping[str, int]  # each stage's lane ceiling


async def run(parts: RunParts, shape: RunShape, result: RunResult) -> RunResult:
    """Run every stage against one endpoint; failures are recorded per item, not raised.

    `result` is the run's record, empty (`RunResult.empty`); it is filled in and returned.
    `parts.stats` may be watched while the run goes (progress display, metrics collectors).
    """
    started = time.monotonic()
    flow = _Flow(shape, parts.callers, parts.stats, result)
    try:
        if shape.parallel:
            await flow.streaming()
        else:
            await flow.staged()
        if shape.synthesis:
            await flow.synthesis()
    except FatalLLMError as exc:
        result.error = f"{parts.endpoint}: {exc}"
    except RunAborted as exc:  # the store cannot keep answers: stop paying for more of them
        result.error = str(exc)
        result.stopped = "store"
    except EndpointStop as exc:  # the breaker opened, or a wait beyond scheduler.max_wait_s
        result.error = str(exc)
    except asyncio.CancelledError:  # Ctrl-C or SIGTERM (postgen.cli.signals): keep what we have
        if (task := asyncio.current_task()) is not None:
            task.uncancel()
        result.stopped = "interrupted"
    finally:
        result.wall_seconds = time.monotonic() - started
    if parts.budget.spent is not None and result.stopped is None:
        result.stopped = "budget"
        result.notes.append(f"stopped early: {parts.budget.spent}")
    return result


class _Flow:
    """The order in which items move through the stages."""

    def __init__(
        self,
        shape: RunShape,
        callers: Mapping[str, StageCaller],
        stats: RunStats,
        result: RunResult,
    ) -> None:
        self.shape = shape
        self.brief = shape.brief
        self.llm = callers
        self.stats = stats
        self.result = result

    async def staged(self) -> None:
        """The seed's order: all candidates, then all cards, then all scores; one at a time."""
        ids = list(range(1, self.shape.iterations + 1))
        await _each(ids, self._candidate)
        if not self.shape.synthesis:
            return
        await _each([i for i in ids if self.result.candidates[i - 1]], self._card)
        await _each([i for i in ids if self.result.cards[i - 1]], self._score)

    async def streaming(self) -> None:
        """Each item moves on as soon as its previous stage is done."""

        async def item(i: int) -> None:
            await self._candidate(i)
            if self.shape.synthesis and self.result.candidates[i - 1]:
                await self._card(i)
                if self.result.cards[i - 1]:
                    await self._score(i)

        await _each(list(range(1, self.shape.iterations + 1)), item, concurrency=self._window())

    def _window(self) -> int:
        """Items admitted at once: enough to keep every stage's lane full, few enough that a
        run of thousands of items does not hold thousands of pending requests in memory."""
        ceilings = sum(self.shape.concurrency[n] for n in ("candidates", "extract", "score"))
        return max(16, 2 * ceilings)

    async def synthesis(self) -> None:
        scored = [s for s in self.result.scores if s is not None]
        if not scored:
            self.result.notes.append("no card was scored, so there is nothing to synthesize")
            return
        top = select_top(scored, self.shape.top_k)
        cards = [self.result.cards[s.article_id - 1] for s in top]
        post = await self._record(
            "synthesize",
            "post",
            lambda: synthesize_post(
                self.brief, [c for c in cards if c is not None], top, self.llm["synthesize"]
            ),
        )
        self.result.post = post

    async def _candidate(self, i: int) -> None:
        self.result.candidates[i - 1] = await self._record(
            "candidates", str(i), lambda: write_candidate(i, self.brief, self.llm["candidates"])
        )

    async def _card(self, i: int) -> None:
        candidate = self.result.candidates[i - 1]
        assert candidate is not None
        self.result.cards[i - 1] = await self._record(
            "extract", str(i), lambda: extract_card(candidate, self.llm["extract"])
        )

    async def _score(self, i: int) -> None:
        card = self.result.cards[i - 1]
        assert card is not None
        self.result.scores[i - 1] = await self._record(
            "score",
            str(i),
            lambda: score_card(
                card,
                self.shape.criteria,
                self.shape.votes,
                self.llm["score"],
                audience=self.brief.audience,
            ),
        )

    async def _record(self, stage: str, item: str, make: Callable[[], Awaitable[T]]) -> T | None:
        """Run one item of a stage; a failure is recorded with its reason and the run goes on."""
        st = self.stats[stage]
        st.items += 1
        try:
            value = await make()
        except (FatalLLMError, RunAborted, EndpointStop):  # the whole run stops, not this item
            raise
        except Exception as exc:
            st.record_item(item, exc)
            # A spent budget is said once (postgen.engine.budget), not once per item it stops.
            level = "DEBUG" if isinstance(exc, BudgetExhausted) else "WARNING"
            logger.log(level, "{} item {} failed: {}", stage, item, describe_failure(exc))
            return None
        st.record_item(item, None)
        return value


async def _each(
    ids: list[int], fn: Callable[[int], Awaitable[None]], *, concurrency: int | None = 1
) -> None:
    outcome = await run_ordered(
        ids,
        fn,
        concurrency=concurrency,
        second_pass=False,
        fatal=(FatalLLMError, RunAborted, EndpointStop),
    )
    for error in outcome.errors.values():
        raise error  # _record catches item failures; anything left here is a bug
