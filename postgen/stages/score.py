"""Stage 3: judge a card with several independent votes and aggregate them."""

from __future__ import annotations

import asyncio
import statistics
from typing import Any

from postgen.config import Criterion
from postgen.domain import ArticleCard, CardScore, CriterionStats, JudgeVote
from postgen.errors import InvalidOutput
from postgen.prompts import render
from postgen.stages.caller import Caller

__all__ = [
    "SCORE_RANGE",
    "aggregate_votes",
    "clamp_scores",
    "score_card",
    "score_vote",
    "vote_schema",
]

SCORE_RANGE = (1, 10)
RATIONALE_CHARS = 160  # one sentence; a grammar-bound model otherwise rambles until max_tokens


def vote_schema(criteria: dict[str, Criterion]) -> dict[str, Any]:
    """The vote's JSON schema, pinned to the rubric: one entry per criterion, by name.

    An object keyed by criterion (not a list of {"name": ...}) makes a grammar-constrained
    server write exactly the configured names; integer scores are an enum, because
    llama.cpp's grammar honours enums and ignores minimum/maximum.
    """
    low, high = SCORE_RANGE
    entry = {
        "type": "object",
        "properties": {
            "score": {
                "type": "integer",
                "enum": list(range(low, high + 1)),
                "minimum": low,
                "maximum": high,
            },
            "rationale": {"type": "string", "maxLength": RATIONALE_CHARS},
        },
        "required": ["score", "rationale"],
        "additionalProperties": False,
    }
    names = list(criteria)
    keyed = {
        "type": "object",
        "properties": {name: entry for name in names},
        "required": names,
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"criteria": keyed},
        "required": ["criteria"],
        "additionalProperties": False,
    }


def clamp_scores(value: dict[str, Any]) -> int:
    """Scores outside the range, clamped into it in place; returns how many (counted as
    `clamped` in run.json). Non-numbers are left for validation to refuse."""
    low, high = SCORE_RANGE
    entries = value.get("criteria")
    if isinstance(entries, dict):
        items = list(entries.values())
    elif isinstance(entries, list):
        items = entries
    else:
        return 0
    fixed = 0
    for entry in items:
        score = entry.get("score") if isinstance(entry, dict) else None
        if isinstance(score, int | float) and not isinstance(score, bool):
            clamped = min(high, max(low, score))
            if clamped != score:
                entry["score"] = clamped
                fixed += 1
    return fixed


async def score_vote(
    card: ArticleCard,
    criteria: dict[str, Criterion],
    vote: int,
    llm: Caller,
    *,
    audience: str,
) -> JudgeVote:
    messages = render(
        "score",
        card_json=card.model_dump_json(),
        criteria=criteria,
        vote=vote,
        audience=audience,
    )

    def covers_every_criterion(judged: JudgeVote) -> None:
        missing = sorted(set(criteria) - set(judged.by_name()))
        if missing:
            raise InvalidOutput(f"the vote misses criteria: {', '.join(missing)}")

    return await llm.structured(
        messages,
        JudgeVote,
        item=f"{card.article_id}/vote{vote}",
        check=covers_every_criterion,
        schema=vote_schema(criteria),
        fix=clamp_scores,
    )


async def score_card(
    card: ArticleCard,
    criteria: dict[str, Criterion],
    votes: int,
    llm: Caller,
    *,
    audience: str,
) -> CardScore:
    """All votes run at once; the card fails only when every vote failed."""
    results = await asyncio.gather(
        *(score_vote(card, criteria, v, llm, audience=audience) for v in range(1, votes + 1)),
        return_exceptions=True,
    )
    for r in results:
        if isinstance(r, BaseException) and not isinstance(r, Exception):
            raise r  # cancellation and friends are not a failed vote
    good = [r for r in results if isinstance(r, JudgeVote)]
    if not good:
        first = next(r for r in results if isinstance(r, BaseException))
        raise first
    return aggregate_votes(card.article_id, good, criteria, failed_votes=votes - len(good))


def aggregate_votes(
    article_id: int,
    votes: list[JudgeVote],
    criteria: dict[str, Criterion],
    *,
    failed_votes: int = 0,
) -> CardScore:
    """Per-criterion mean and spread, and the weighted overall score."""
    stats: dict[str, CriterionStats] = {}
    for name in criteria:
        entries = [v.by_name()[name] for v in votes if name in v.by_name()]
        values = [e.score for e in entries]
        stats[name] = CriterionStats(
            mean=round(statistics.fmean(values), 3),
            stdev=round(statistics.pstdev(values), 3),
            votes=values,
            rationales=[e.rationale for e in entries],
        )
    total_weight = sum(c.weight for c in criteria.values())
    overall = sum(stats[n].mean * c.weight for n, c in criteria.items()) / total_weight
    per_vote = [
        sum(v.by_name()[n].score * c.weight for n, c in criteria.items()) / total_weight
        for v in votes
    ]
    return CardScore(
        article_id=article_id,
        overall_score=round(overall, 3),
        overall_stdev=round(statistics.pstdev(per_vote), 3),
        criteria=stats,
        votes=len(votes),
        failed_votes=failed_votes,
    )
