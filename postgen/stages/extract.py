"""Stage 2: turn a candidate into a structured article card."""

from __future__ import annotations

from postgen.domain import ArticleCandidate, ArticleCard
from postgen.prompts import render
from postgen.stages.caller import Caller

__all__ = ["extract_card"]


async def extract_card(candidate: ArticleCandidate, llm: Caller) -> ArticleCard:
    messages = render("extract", candidate=candidate)
    card = await llm.structured(messages, ArticleCard, item=str(candidate.article_id))
    # The id is ours, not the model's: never trust it to copy a number back.
    return card.model_copy(update={"article_id": candidate.article_id})
