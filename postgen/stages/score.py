"""Stage 3: judge a card with several independent votes and aggregate them."""

from __future__ import annotations

import asyncio
import statistics

from postgen.config import Criterion
from postgen.domain import ArticleCard, CardScore, CriterionStats, JudgeVote
from postgen.errors import InvalidOutput
from postgen.prompts import render
from postgen.stages.caller import Caller

__all__ = ["aggregate_votes", "score_card", "score_vote"]


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
        messages, JudgeVote, item=f"{card.article_id}/vote{vote}", check=covers_every_criterion
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
