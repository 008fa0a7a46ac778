"""The run's parts, built once from settings, for the pipeline to be handed.

The session calls `build_parts` and `run_shape` after preflight (which settles the model):
the governor with the run's observers, the endpoint's negotiator, one `StageCaller` per stage
(its lane, retry policy and request parameters) and the budget. Nothing below reads settings
again for them.
"""

from __future__ import annotations

from collections.abc import Sequence

from postgen.config import STAGES, Settings
from postgen.domain import Brief
from postgen.engine.budget import Budget
from postgen.engine.caller import CallStore, Complete, StageCaller, StageParams, endpoint_negotiator
from postgen.engine.pipeline import RunParts, RunShape
from postgen.engine.scheduling import build_governor, lane_hang_guard_s, retry_policy
from postgen.observe.stats import RunStats
from postgen.stages.publish import topic_keywords
from scheduler import MultiObserver, Observer

__all__ = ["build_parts", "make_brief", "run_shape", "stage_callers"]


def build_parts(
    settings: Settings,
    complete: Complete,
    *,
    endpoint: str,
    stats: RunStats,
    store: CallStore | None = None,
    observers: Sequence[Observer] = (),
) -> RunParts:
    """Everything the pipeline calls through, built once for one run against one endpoint."""
    budget = Budget(settings.budget, stats)
    callers = stage_callers(
        settings, complete, endpoint, stats, store=store, budget=budget, observers=observers
    )
    return RunParts(endpoint, callers, budget, stats)


def run_shape(settings: Settings) -> RunShape:
    """What the pipeline reads of the settings, and all it reads."""
    return RunShape(
        brief=make_brief(settings),
        iterations=settings.iterations,
        votes=settings.votes,
        top_k=settings.top_k,
        criteria=settings.criteria,
        synthesis=settings.synthesis,
        parallel=settings.parallel,
        concurrency={name: settings.stage_concurrency(name) for name in STAGES},
    )


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
