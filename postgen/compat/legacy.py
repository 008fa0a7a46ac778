"""The seed's Python API (`post_generator.py`), on top of postgen's stages and scheduler.

Same names and signatures as the seed; three differences, all on purpose:

- results come back in **input order** (the seed returned completion order);
- failed items are still skipped, but reported: a warning per item, and `last_errors()`;
- calls work from plain Python and from a thread whose event loop is running (a notebook).

Which LLM: the packaged `conf/` composed with Hydra overrides — by default the built-in
simulator. `configure(["llm=openai", "llm.model=gpt-4o-mini"])` changes it for the process;
without a `configure` call the overrides come from the `POSTGEN_OVERRIDES` environment
variable (shell syntax: `POSTGEN_OVERRIDES="llm=openai votes=5"`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib import resources
from typing import Any

import yaml
from loguru import logger
from pydantic import ConfigDict

from postgen import domain
from postgen.compat.cli import main
from postgen.compat.run import ItemError, StageRun, configure, last_errors, run_stage
from postgen.config import Criterion, Settings
from postgen.domain import ArticleCard, CardScore, CriterionVote, JudgeVote
from postgen.engine.caller import StageCaller
from postgen.stages import aggregate_votes, extract_card, score_card

__all__ = [
    "SCORING_CRITERIA",
    "ArticleCandidate",
    "ArticleCard",
    "ArticleScore",
    "ItemError",
    "average_score_votes",
    "configure",
    "extract_all_article_cards",
    "extract_all_article_cards_parallel",
    "last_errors",
    "main",
    "score_all_cards_with_voting",
    "score_all_cards_with_voting_parallel",
]

ArticleScore = CardScore
"""The seed's per-card score: `article_id`, `overall_score`, and every vote per criterion."""


class ArticleCandidate(domain.ArticleCandidate):
    """The seed's candidate: `article_id` and `content`; `angle` and `model` are optional."""

    model_config = ConfigDict(extra="forbid", frozen=True, from_attributes=True)

    angle: str = ""
    model: str = ""


def _packaged_criteria() -> dict[str, dict[str, Any]]:
    text = resources.files("postgen.conf").joinpath("criteria/marketing.yaml").read_text("utf-8")
    loaded: dict[str, dict[str, Any]] = yaml.safe_load(text)
    return loaded


SCORING_CRITERIA: dict[str, dict[str, Any]] = _packaged_criteria()
"""The marketing rubric (conf/criteria/marketing.yaml): name → weight, description, levels."""

_RULE = "=" * 80


def extract_all_article_cards(
    candidates: list[ArticleCandidate], verbose: bool = False
) -> list[ArticleCard]:
    """Extract a card from every candidate, one request at a time."""
    return _extract(candidates, None, verbose)


def extract_all_article_cards_parallel(
    candidates: list[ArticleCandidate], max_concurrent: int = 5, verbose: bool = False
) -> list[ArticleCard]:
    """Extract cards with up to `max_concurrent` requests in flight (adaptive below that)."""
    return _extract(candidates, _ceiling(max_concurrent), verbose)


def score_all_cards_with_voting(
    cards: list[ArticleCard],
    criteria: dict[str, dict[str, Any]],
    votes: int = 3,
    verbose: bool = False,
) -> list[ArticleScore]:
    """Score every card with `votes` judge votes, one request at a time."""
    return _score(cards, criteria, votes, None, verbose)


def score_all_cards_with_voting_parallel(
    cards: list[ArticleCard],
    max_concurrent: int = 5,
    votes: int = 3,
    criteria: dict[str, dict[str, Any]] = SCORING_CRITERIA,
    verbose: bool = False,
) -> list[ArticleScore]:
    """Score cards with up to `max_concurrent` votes in flight (adaptive below that)."""
    return _score(cards, criteria, votes, _ceiling(max_concurrent), verbose)


def average_score_votes(
    votes: Sequence[ArticleScore], criteria: Mapping[str, Any] | None = None
) -> ArticleScore:
    """Pool several scores of one card into one, as if all their votes were cast together."""
    if not votes:
        raise ValueError("average_score_votes needs at least one score")
    ids = {v.article_id for v in votes}
    if len(ids) > 1:
        raise ValueError(f"scores of different articles cannot be averaged: {sorted(ids)}")
    names = list(votes[0].criteria)
    rubric = _criteria(criteria or SCORING_CRITERIA)
    weights = {n: rubric.get(n, Criterion(weight=1.0, description=n)) for n in names}
    judged = [_judge_votes(v) for v in votes]
    return aggregate_votes(
        votes[0].article_id,
        [vote for group in judged for vote in group],
        weights,
        failed_votes=sum(v.failed_votes for v in votes),
    )


@contextmanager
def _speaking() -> Iterator[None]:
    """The seed printed skipped items (and, verbose, its progress): let this module's records
    through, though postgen is otherwise quiet as a library."""
    logger.enable(__name__)  # postgen is disabled as a library (postgen/__init__.py)
    try:
        yield
    finally:
        logger.disable(__name__)


def _extract(candidates: Sequence[Any], ceiling: int | None, verbose: bool) -> list[ArticleCard]:
    with _speaking():
        return _extract_quietly(candidates, ceiling, verbose)


def _extract_quietly(
    candidates: Sequence[Any], ceiling: int | None, verbose: bool
) -> list[ArticleCard]:
    items = [ArticleCandidate.model_validate(c, from_attributes=True) for c in candidates]
    ids = [c.article_id for c in items]
    mode = "PARALLEL " if ceiling else ""
    if verbose:
        _banner(f"{mode}EXTRACTION STAGE")
        how = f"max {ceiling} concurrent requests" if ceiling else "one request at a time"
        logger.info("Extracting {} cards with {}...", len(items), how)
    progress = _Progress("EXTRACT", ids, verbose, "extracted")

    async def work(item: ArticleCandidate, llm: StageCaller, _: Settings) -> ArticleCard:
        return await extract_card(item, llm)

    run = run_stage("extract", ids, items, work, ceiling=ceiling, on_done=progress.done)
    cards: list[ArticleCard] = [c for c in run.results if c is not None]
    _report(run, "extraction", "Article")
    if verbose:
        done = "Parallel extraction" if ceiling else "Extraction"
        logger.info("✓ {} complete: {}/{} cards extracted", done, len(cards), len(items))
        _stats_lines(run, "extractions")
    return cards


def _score(
    cards: Sequence[Any],
    criteria: Mapping[str, Any],
    votes: int,
    ceiling: int | None,
    verbose: bool,
) -> list[ArticleScore]:
    with _speaking():
        return _score_quietly(cards, criteria, votes, ceiling, verbose)


def _score_quietly(
    cards: Sequence[Any],
    criteria: Mapping[str, Any],
    votes: int,
    ceiling: int | None,
    verbose: bool,
) -> list[ArticleScore]:
    if votes < 1:
        raise ValueError(f"votes must be at least 1 (got {votes})")
    items = [ArticleCard.model_validate(c, from_attributes=True) for c in cards]
    ids = [c.article_id for c in items]
    rubric = _criteria(criteria)
    mode = "PARALLEL " if ceiling else ""
    if verbose:
        _banner(f"{mode}SCORING STAGE")
        how = f"max {ceiling} concurrent" if ceiling else "one request at a time"
        logger.info("Scoring {} cards with {} votes each, {}...", len(items), votes, how)
    progress = _Progress("SCORE", ids, verbose, "scored")

    async def work(card: ArticleCard, llm: StageCaller, settings: Settings) -> ArticleScore:
        audience = settings.brief.audience
        return await score_card(card, rubric, votes, llm, audience=audience)

    run = run_stage("score", ids, items, work, ceiling=ceiling, on_done=progress.done)
    scores: list[ArticleScore] = [s for s in run.results if s is not None]
    _report(run, "scoring", "Card")
    if verbose:
        for s in scores:
            logger.info("  ✓ Card #{} scored: {}", s.article_id, s.overall_score)
        done = "Parallel scoring" if ceiling else "Scoring"
        logger.info("✓ {} complete: {}/{} cards scored", done, len(scores), len(items))
        if scores:
            values = [s.overall_score for s in scores]
            logger.info("  Score range: {:.1f} - {:.1f}", min(values), max(values))
        _stats_lines(run, "scoring operations")
    return scores


class _Progress:
    """The seed's progress line every tenth of the items (only when verbose)."""

    def __init__(self, stage: str, ids: list[int], verbose: bool, verb: str) -> None:
        self.stage, self.ids, self.verbose, self.verb = stage, ids, verbose, verb
        self.completed = 0
        self.step = max(1, len(ids) // 10)

    def done(self, i: int, result: object, error: BaseException | None) -> None:
        self.completed += 1  # run_ordered calls back on its own loop, one at a time
        if self.verbose and (self.completed % self.step == 0 or self.completed == len(self.ids)):
            status = self.verb if error is None else "failed"
            pct = 100 * self.completed / len(self.ids)
            logger.info(
                "[{}] Progress: {}/{} ({:.1f}%) - {}",
                self.stage,
                self.completed,
                len(self.ids),
                pct,
                status,
            )


def _report(run: StageRun, what: str, noun: str) -> None:
    for err in run.errors:
        logger.warning("{} skipped {} #{}: {}", what, noun, err.item_id, err.error)


def _stats_lines(run: StageRun, failures: str) -> None:
    st = run.stats
    if run.errors:
        logger.info("  Failed {}: {}", failures, len(run.errors))
        for err in run.errors[:3]:
            logger.info("    - #{}: {}", err.item_id, err.error)
    logger.info(
        "  requests: {}  retries: {}  429s: {}  max in flight: {}  wall: {:.2f} s",
        st.requests,
        st.retries,
        st.rate_limited,
        st.max_concurrency_reached,
        run.wall_seconds,
    )


def _banner(title: str) -> None:
    logger.info("\n{}\n{}\n{}", _RULE, title, _RULE)


def _ceiling(max_concurrent: int) -> int:
    if max_concurrent < 1:
        raise ValueError(f"max_concurrent must be at least 1 (got {max_concurrent})")
    return max_concurrent


def _criteria(criteria: Mapping[str, Any]) -> dict[str, Criterion]:
    """Seed-style `{name: {weight, description, ...}}` (or Criterion objects) as Criterion."""
    if not criteria:
        raise ValueError("no scoring criteria given")
    out = {}
    for name, spec in criteria.items():
        if isinstance(spec, Criterion):
            out[name] = spec
            continue
        levels = spec.get("levels") or {}
        out[name] = Criterion(
            weight=float(spec.get("weight", 1.0)),
            description=str(spec.get("description") or name),
            levels={str(k): str(v) for k, v in levels.items()},
        )
    return out


def _judge_votes(score: ArticleScore) -> list[JudgeVote]:
    """The individual votes a score was aggregated from."""
    count = min((len(c.votes) for c in score.criteria.values()), default=0)
    return [
        JudgeVote(
            criteria=[
                CriterionVote(
                    name=name,
                    score=stats.votes[j],
                    rationale=stats.rationales[j] if j < len(stats.rationales) else "",
                )
                for name, stats in score.criteria.items()
            ]
        )
        for j in range(count)
    ]
