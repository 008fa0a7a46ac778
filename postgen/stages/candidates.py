"""Stage 1: write one candidate article for the brief."""

from __future__ import annotations

from loguru import logger

from postgen.domain import ArticleCandidate, Brief
from postgen.errors import InvalidOutput
from postgen.prompts import render
from postgen.stages.caller import Caller

__all__ = ["ANGLES", "MAX_CHARS_PER_WORD", "max_candidate_chars", "write_candidate"]

MIN_CHARS = 40  # shorter than this is a refusal or an error message, not an article
# A candidate is cut at this many characters per word of `brief.words`: three times the words
# asked for at ~8 characters a word (English averages ~6 with its space). Models overshoot a
# little; a server that sends megabytes must not put them into every extract prompt and
# candidates.jsonl.
MAX_CHARS_PER_WORD = 24

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
    content = _capped(completion.text.strip(), max_candidate_chars(brief), article_id)
    return ArticleCandidate(
        article_id=article_id,
        angle=angle,
        content=content,
        model=completion.model,
        words=len(content.split()),
        truncated=completion.truncated,
    )


def _long_enough(text: str) -> None:
    if len(text.strip()) < MIN_CHARS:
        raise InvalidOutput(f"the article is too short ({len(text.strip())} characters)")


def max_candidate_chars(brief: Brief) -> int:
    """The longest candidate passed on to extraction and candidates.jsonl, in characters."""
    return brief.words * MAX_CHARS_PER_WORD


def _capped(text: str, limit: int, article_id: int) -> str:
    if len(text) <= limit:
        return text
    # Cut at the last space before the limit, so no word is split (unless there is none).
    cut = text.rfind(" ", limit // 2, limit)
    logger.warning(
        "candidate {} is {} characters; cut to {} (at most {} per word of brief.words)",
        article_id,
        len(text),
        cut if cut > 0 else limit,
        MAX_CHARS_PER_WORD,
    )
    return text[: cut if cut > 0 else limit].rstrip()
