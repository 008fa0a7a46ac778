"""Stage 4: merge the best cards into the final post."""

from __future__ import annotations

import json
import re
import unicodedata

from postgen.domain import ArticleCard, Brief, CardScore, Post, PostDraft
from postgen.prompts import render
from postgen.stages.caller import Caller

__all__ = ["select_top", "slugify", "synthesize_post"]


def select_top(scores: list[CardScore], k: int) -> list[CardScore]:
    """The k best scores; ties go to the earlier article, so the choice is reproducible."""
    return sorted(scores, key=lambda s: (-s.overall_score, s.article_id))[:k]


async def synthesize_post(
    brief: Brief, cards: list[ArticleCard], scores: list[CardScore], llm: Caller
) -> Post:
    cards_json = json.dumps([c.model_dump() for c in cards], ensure_ascii=False)
    messages = render("synthesize", brief=brief, cards_json=cards_json, angle="")
    draft = await llm.structured(messages, PostDraft, item="post")
    best = max((s.overall_score for s in scores), default=0.0)
    return Post(
        title=draft.title.strip(),
        description=draft.description,
        slug=slugify(draft.title),
        keywords=draft.keywords or brief.keywords,
        sources=[c.article_id for c in cards],
        score=round(best, 3),
        body_markdown=_strip_title_line(draft.body_markdown, draft.title),
    )


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:80].rstrip("-") or "post"


def _strip_title_line(body: str, title: str) -> str:
    # Models often repeat the title as an H1 despite being told not to.
    lines = body.strip().splitlines()
    if lines and lines[0].lstrip("# ").strip().lower() == title.strip().lower():
        lines = lines[1:]
    return "\n".join(lines).strip() + "\n"
