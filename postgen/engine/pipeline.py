"""The run: wires the stages together. It does not retry, parse config or export metrics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from loguru import logger

from postgen.config import STAGES, Settings
from postgen.domain import Brief
from postgen.engine.budget import Budget
from postgen.engine.caller import CallStore, Complete, StageCaller, StageParams, endpoint_negotiator
from postgen.engine.scheduling import build_governor, lane_hang_guard_s, retry_policy
from postgen.errors import BudgetExhausted, FatalLLMError, RunAborted
from postgen.observe.result import RunResult
from postgen.observe.stats import RunStats, describe_failure
from postgen.stages import extract_card, score_card, select_top, synthesize_post, write_candidate
from postgen.stages.publish import topic_keywords
from scheduler import EndpointStop, MultiObserver, Observer, run_ordered

__all__ = ["make_brief", "run", "stage_callers"]

T = TypeVar("T")


def make_brief(settings: Settings) -> Brief:
    b = settings.brief
    return Brief(
        topic=settings.topic,
        audience=b.audience,
        tone=b.tone,
        # Without keywords of its own, the brief takes them from the topic: a demo's keywords
        # must not leak into a post about something else.
        keywords=list(b.keywords) or topic_keywords(settings.topic),
        words=b.words,
        call_to_action=b.call_to_action,
    )


async def run(
    settings: Settings,
    complete: Complete,
    *,
    endpoint: str,
    observers: Sequence[Observer] = (),
    store: CallStore | None = None,
    stats: RunStats | None = None,
) -> RunResult:
    """Run every stage against one endpoint; failures are recorded per item, not raised.

    Pass `stats` to watch the run while it goes (progress display, metrics collectors).
    """
    started = time.monotonic()
    stats = stats if stats is not None else RunStats()
    n = settings.iterations
    result = RunResult(settings, stats, [None] * n, [None] * n, [None] * n)
    budget = Budget(settings.budget, stats)
    callers = stage_callers(
        settings, complete, endpoint, stats, store=store, budget=budget, observers=observers
    )
    flow = _Flow(settings, make_brief(settings), callers, stats, result)
    try:
        if settings.parallel:
            await flow.streaming()
        else:
            await flow.staged()
        if settings.synthesis:
            await flow.synthesis()
    except FatalLLMError as exc:
        result.error = f"{endpoint}: {exc}"
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
    if budget.spent is not None and result.stopped is None:
        result.stopped = "budget"
        result.notes.append(f"stopped early: {budget.spent}")
    return result


def stage_callers(
    settings: Settings,
    complete: Complete,
    endpoint: str,
    stats: RunStats,
    *,
    store: CallStore | None = None,
    budget: Budget | None = None,
    observers: Sequence[Observer] = (),
) -> dict[str, StageCaller]:
    """One caller per stage, all sharing one governor: the endpoint's limits are shared."""
    governor = build_governor(settings, MultiObserver([stats, *observers]), name=endpoint)
    mode = settings.structured_output()
    negotiator = endpoint_negotiator(mode, endpoint, store)
    stats.negotiation = negotiator
    callers = {}
    for name in STAGES:
        cfg = settings.stage.get(name)
        policy = retry_policy(cfg.retry, attempt_bound_s=lane_hang_guard_s(settings, cfg))
        lane = governor.lane(name, settings.stage_concurrency(name), policy)
        params = StageParams(
            stage=name,
            endpoint=endpoint,
            model=settings.stage_model(name),
            temperature=cfg.temperature,
            max_tokens=cfg.max_tokens,
            seed=settings.seed,
            json_schema=mode != "prompt",
            timeout_s=cfg.retry.timeout_s,
            timeout_key=f"stage.{name}.retry.timeout_s",
        )
        callers[name] = StageCaller(
            params, complete, lane, stats[name], store, budget, negotiator=negotiator
        )
    return callers


class _Flow:
    """The order in which items move through the stages."""

    def __init__(
        self,
        settings: Settings,
        brief: Brief,
        callers: dict[str, StageCaller],
        stats: RunStats,
        result: RunResult,
    ) -> None:
        self.s = settings
        self.brief = brief
        self.llm = callers
        self.stats = stats
        self.result = result

    async def staged(self) -> None:
        """The seed's order: all candidates, then all cards, then all scores; one at a time."""
        ids = list(range(1, self.s.iterations + 1))
        await _each(ids, self._candidate)
        if not self.s.synthesis:
            return
        await _each([i for i in ids if self.result.candidates[i - 1]], self._card)
        await _each([i for i in ids if self.result.cards[i - 1]], self._score)

    async def streaming(self) -> None:
        """Each item moves on as soon as its previous stage is done."""

        async def item(i: int) -> None:
            await self._candidate(i)
            if self.s.synthesis and self.result.candidates[i - 1]:
                await self._card(i)
                if self.result.cards[i - 1]:
                    await self._score(i)

        await _each(list(range(1, self.s.iterations + 1)), item, concurrency=self._window())

    def _window(self) -> int:
        """Items admitted at once: enough to keep every stage's lane full, few enough that a
        run of thousands of items does not hold thousands of pending requests in memory."""
        ceilings = sum(self.s.stage_concurrency(n) for n in ("candidates", "extract", "score"))
        return max(16, 2 * ceilings)

    async def synthesis(self) -> None:
        scored = [s for s in self.result.scores if s is not None]
        if not scored:
            self.result.notes.append("no card was scored, so there is nothing to synthesize")
            return
        top = select_top(scored, self.s.top_k)
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
                card, self.s.criteria, self.s.votes, self.llm["score"], audience=self.brief.audience
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
