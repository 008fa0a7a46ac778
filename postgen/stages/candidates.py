"""Stage 1: write one candidate article for the brief."""

from __future__ import annotations

from postgen.domain import ArticleCandidate, Brief
from postgen.errors import InvalidOutput
from postgen.prompts import render
from postgen.stages.caller import Caller

__all__ = ["ANGLES", "write_candidate"]

MIN_CHARS = 40  # shorter than this is a refusal or an error message, not an article

# Each candidate takes a different angle, so the judges have real alternatives to compare.
ANGLES = (
    "a practical how-to",
    "a contrarian take",
    "a customer story",
    "a myth-busting piece",
    "a step-by-step playbook",
    "an executive briefing",
    "lessons learned from failure",
    "a checklist for getting started",
    "a cost-and-benefit analysis",
    "a look at what comes next",
)


def angle_for(article_id: int) -> str:
    base = ANGLES[(article_id - 1) % len(ANGLES)]
    round_ = (article_id - 1) // len(ANGLES)
    return base if round_ == 0 else f"{base} (variation {round_ + 1})"


async def write_candidate(article_id: int, brief: Brief, llm: Caller) -> ArticleCandidate:
    angle = angle_for(article_id)
    messages = render("candidate", brief=brief, angle=angle)
    completion = await llm.text(messages, item=str(article_id), check=_long_enough)
    content = completion.text.strip()
    return ArticleCandidate(
        article_id=article_id, angle=angle, content=content, model=completion.model
    )


def _long_enough(text: str) -> None:
    if len(text.strip()) < MIN_CHARS:
        raise InvalidOutput(f"the article is too short ({len(text.strip())} characters)")
