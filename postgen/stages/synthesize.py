"""Stage 4: merge the best cards into the final post."""

from __future__ import annotations

import json
from typing import Any

from postgen.domain import ArticleCard, Brief, CardScore, Post, PostDraft
from postgen.prompts import render
from postgen.stages.caller import Caller
from postgen.stages.publish import post_keywords, seo_title, slug_for

__all__ = ["draft_schema", "select_top", "synthesize_post"]

BODY_CHARS_PER_WORD = 8  # markdown runs ~6 characters a word; the bound leaves room


def draft_schema(brief: Brief) -> dict[str, Any]:
    """The draft's JSON schema as sent: every field required, the body bounded by the brief's
    length, so that a grammar-bound model closes the JSON before max_tokens cuts it off."""
    text = {"type": "string", "minLength": 3}
    return {
        "type": "object",
        "properties": {
            "title": {**text, "maxLength": 120},
            "description": {**text, "maxLength": 160},
            "keywords": {
                "type": "array",
                "items": {"type": "string", "maxLength": 60},
                "maxItems": 8,
            },
            "body_markdown": {
                "type": "string",
                "minLength": 20,
                "maxLength": max(400, BODY_CHARS_PER_WORD * brief.words),
            },
        },
        "required": ["title", "description", "keywords", "body_markdown"],
        "additionalProperties": False,
    }


def select_top(scores: list[CardScore], k: int) -> list[CardScore]:
    """The k best scores; ties go to the earlier article, so the choice is reproducible."""
    return sorted(scores, key=lambda s: (-s.overall_score, s.article_id))[:k]


async def synthesize_post(
    brief: Brief, cards: list[ArticleCard], scores: list[CardScore], llm: Caller
) -> Post:
    cards_json = json.dumps([c.model_dump() for c in cards], ensure_ascii=False)
    messages = render("synthesize", brief=brief, cards_json=cards_json, angle="")
    draft = await llm.structured(messages, PostDraft, item="post", schema=draft_schema(brief))
    best = max((s.overall_score for s in scores), default=0.0)
    title = " ".join(draft.title.split())
    body = _strip_title_line(draft.body_markdown, title)
    return Post(
        title=title,
        seo_title=seo_title(title),
        description=draft.description,
        slug=slug_for(title),
        keywords=post_keywords(brief.keywords, draft.keywords, f"{title}\n{body}"),
        sources=[c.article_id for c in cards],
        score=round(best, 3),
        body_markdown=body,
    )


def _strip_title_line(body: str, title: str) -> str:
    # Models often repeat the title as an H1 despite being told not to.
    lines = body.strip().splitlines()
    if lines and lines[0].lstrip("# ").strip().lower() == title.strip().lower():
        lines = lines[1:]
    return "\n".join(lines).strip() + "\n"
