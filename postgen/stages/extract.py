"""Stage 2: turn a candidate into a structured article card."""

from __future__ import annotations

from typing import Any

from postgen.domain import ArticleCandidate, ArticleCard
from postgen.prompts import render
from postgen.stages.caller import Caller

__all__ = ["card_schema", "extract_card", "trim_lists"]

# Bounds a grammar-bound model keeps to, so that a card cannot ramble until max_tokens.
# The list bounds are the prompt's own (extract.j2), within ArticleCard's.
_TEXT_CHARS = {"title": 120, "hook": 300, "summary": 600, "audience": 120, "tone": 60}
_LISTS = {"key_points": (1, 6), "claims": (0, 5), "keywords": (0, 8)}
_ITEM_CHARS = 160


def card_schema() -> dict[str, Any]:
    """The card's JSON schema as sent to the server.

    Every field is required (a server that forces JSON but not fields lets a small model
    leave them out), lengths are bounded, and there is no `article_id`: the id is ours.
    """
    props: dict[str, Any] = {
        name: {"type": "string", "minLength": 3, "maxLength": chars}
        for name, chars in _TEXT_CHARS.items()
    }
    props["tone"]["minLength"] = 0
    props["call_to_action"] = {"type": "string", "maxLength": _ITEM_CHARS}
    for name, (low, high) in _LISTS.items():
        props[name] = {
            "type": "array",
            "items": {"type": "string", "maxLength": _ITEM_CHARS},
            "minItems": low,
            "maxItems": high,
        }
    return {
        "type": "object",
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }


def trim_lists(value: dict[str, Any]) -> int:
    """Lists longer than the card allows, cut to size in place; returns how many were cut."""
    fixed = 0
    for name, (_, limit) in _LISTS.items():
        items = value.get(name)
        if isinstance(items, list) and len(items) > limit:
            value[name] = items[:limit]
            fixed += 1
    return fixed


async def extract_card(candidate: ArticleCandidate, llm: Caller) -> ArticleCard:
    messages = render("extract", candidate=candidate)
    card = await llm.structured(
        messages,
        ArticleCard,
        item=str(candidate.article_id),
        schema=card_schema(),
        fix=trim_lists,
    )
    # The id is ours, not the model's: never trust it to copy a number back.
    return card.model_copy(update={"article_id": candidate.article_id})
