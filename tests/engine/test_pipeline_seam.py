"""The pipeline is handed built parts and the run's shape; it reads no settings.

The session builds the parts once (`postgen.engine.parts`). Here they are built by hand: one
`StageCaller` per stage over a lane that calls straight through, and a `complete` that answers
in-process with the simulator's content (no HTTP for this one unit).
"""

from __future__ import annotations

import ast
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from postgen.config import STAGES, BudgetConfig, Settings, packaged_criteria
from postgen.domain import Brief
from postgen.engine import pipeline
from postgen.engine.budget import Budget
from postgen.engine.caller import Complete, StageCaller, StageParams
from postgen.engine.pipeline import RunParts, RunShape
from postgen.errors import AuthError
from postgen.llm.types import ChatRequest, Completion, Usage
from postgen.observe.result import RunResult
from postgen.observe.stats import RunStats
from postgen.sim.content import estimate_tokens, generate

T = TypeVar("T")
ITEMS, VOTES, TOP_K = 4, 2, 2
ENDPOINT = "hand-built"


def test_the_pipeline_module_reads_no_settings() -> None:
    tree = ast.parse(Path(pipeline.__file__).read_text(encoding="utf-8"))
    imported = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom | ast.Import)
        for alias in node.names
    ]
    assert "Settings" not in imported
    assert "postgen.config.Settings" not in imported
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert "Settings" not in names  # in no annotation, no call
    params = [a.arg for n in ast.walk(tree) if isinstance(n, ast.arguments) for a in n.args]
    params += [a.arg for n in ast.walk(tree) if isinstance(n, ast.arguments) for a in n.kwonlyargs]
    assert "settings" not in params  # not even untyped


class _Straight:
    """A lane without a scheduler: each call goes straight through, once."""

    async def call_with_fallback(self, fn: Callable[[], Awaitable[T]], *, est_tokens: int = 0) -> T:
        return await fn()


def _simulated(sent: list[ChatRequest]) -> Complete:
    async def complete(request: ChatRequest) -> Completion:
        sent.append(request)
        reply = generate(request.payload(), 0)
        prompt = sum(estimate_tokens(m["content"]) for m in request.messages)
        usage = Usage(prompt, estimate_tokens(reply.content))
        return Completion(reply.content, usage, 0.0, request.model, finish_reason="stop")

    return complete


def _parts(complete: Complete, budget: BudgetConfig | None = None) -> RunParts:
    stats = RunStats()
    callers = {}
    spend = Budget(budget or BudgetConfig(), stats)
    for name in STAGES:
        params = StageParams(name, ENDPOINT, "m", 0.2, 2048, 7, json_schema=True)
        callers[name] = StageCaller(params, complete, _Straight(), stats[name], None, spend)
    return RunParts(ENDPOINT, callers, spend, stats)


def _shape(*, parallel: bool = False, synthesis: bool = True) -> RunShape:
    brief = Brief(
        topic="Zero-downtime database migrations",
        audience="platform engineers",
        tone="practical",
        keywords=["migrations", "zero-downtime"],
        words=600,
        call_to_action="Try the migration checklist",
    )
    return RunShape(
        brief=brief,
        iterations=ITEMS,
        votes=VOTES,
        top_k=TOP_K,
        criteria=packaged_criteria("marketing"),
        synthesis=synthesis,
        parallel=parallel,
        concurrency={name: 2 if parallel else 1 for name in STAGES},
    )


async def _run(parts: RunParts, shape: RunShape) -> RunResult:
    # The result carries the settings for reporting only; the pipeline never reads them.
    return await pipeline.run(
        parts, shape, RunResult.empty(Settings(iterations=ITEMS), parts.stats)
    )


@pytest.mark.parametrize("parallel", [False, True], ids=["staged", "streaming"])
async def test_hand_built_parts_make_every_item_and_the_post(parallel: bool) -> None:
    sent: list[ChatRequest] = []
    result = await _run(_parts(_simulated(sent)), _shape(parallel=parallel))
    assert result.error is None and result.stopped is None
    ids = list(range(1, ITEMS + 1))
    assert [c.article_id for c in result.candidates if c is not None] == ids
    assert [c.article_id for c in result.cards if c is not None] == ids
    scores = [s for s in result.scores if s is not None]
    assert [s.article_id for s in scores] == ids
    assert all(s.votes == VOTES for s in scores)
    assert result.post is not None
    best = sorted(scores, key=lambda s: (-s.overall_score, s.article_id))[:TOP_K]
    assert sorted(result.post.sources) == sorted(s.article_id for s in best)
    assert len(sent) == ITEMS + ITEMS + ITEMS * VOTES + 1  # candidates, cards, votes, post
    assert result.status == "ok"


async def test_without_synthesis_only_candidates_are_asked_for() -> None:
    sent: list[ChatRequest] = []
    result = await _run(_parts(_simulated(sent)), _shape(synthesis=False))
    assert all(c is not None for c in result.candidates)
    assert result.cards == [None] * ITEMS and result.post is None
    assert len(sent) == ITEMS


async def test_a_spent_budget_stops_dispatching_and_says_so() -> None:
    sent: list[ChatRequest] = []
    parts = _parts(_simulated(sent), BudgetConfig(max_requests=3))
    result = await _run(parts, _shape())
    assert len(sent) == 3
    assert [c is not None for c in result.candidates] == [True, True, True, False]
    assert result.stopped == "budget"
    assert result.notes == [
        "no card was scored, so there is nothing to synthesize",
        "stopped early: budget.max_requests=3 reached (3 requests sent)",
    ]
    assert result.status == "partial"


async def test_a_fatal_error_stops_the_run_and_names_the_endpoint() -> None:
    async def refuse(request: ChatRequest) -> Completion:
        raise AuthError("401 invalid api key")

    result = await _run(_parts(refuse), _shape(parallel=True))
    assert result.error == f"{ENDPOINT}: 401 invalid api key"
    assert result.stopped is None and result.status == "failed"
    assert result.candidates == [None] * ITEMS
