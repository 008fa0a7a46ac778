"""Markdown writers: candidate articles from a brief, merged posts from cards."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Any

from .pools import ARCHETYPES, CONCLUSION, ELABORATE, HOOKS, INTRO, ROLES, TITLES
from .prompt import Brief
from .text import content_words, ensure_period, sentence_topic, soft_lower, title_case

__all__ = ["DEFAULT_CTA", "archetype_for", "cta_sentence", "write_article", "write_merged_body"]

DEFAULT_CTA = "Subscribe to our newsletter for more practical ideas like these."
_WORDS_PER_SENTENCE = 17
_CTA_LEADS = ("Ready to take the next step? ", "Want help getting started? ", "", "")


def archetype_for(angle: str, rng: random.Random) -> str:
    lowered = angle.lower()
    for name, (cues, _roles) in ARCHETYPES.items():
        if any(cue in lowered for cue in cues):
            return name
    return rng.choice(sorted(ARCHETYPES))


def keywords_of(brief: Brief) -> list[str]:
    if brief.keywords:
        return list(brief.keywords)
    seen: list[str] = []
    for word in content_words(brief.topic):
        if word not in seen:
            seen.append(word)
    return seen or [sentence_topic(brief.topic)]


class _Filler:
    """Fills templates, rotating keywords so that each one shows up."""

    def __init__(self, brief: Brief, rng: random.Random) -> None:
        self.rng = rng
        self.keywords = keywords_of(brief)
        self.turn = 0
        self.spare = list(ELABORATE)  # elaborations, each used at most once per text
        rng.shuffle(self.spare)
        topic = sentence_topic(brief.topic)
        self.base = {
            "topic": topic,
            "Topic": title_case(brief.topic),
            "Topic_s": topic[:1].upper() + topic[1:],
            "audience": brief.audience,
            "Audience": title_case(brief.audience),
            "angle": brief.angle or "a practical guide",
        }

    def __call__(self, template: str, **extra: object) -> str:
        kw = self.keywords[self.turn % len(self.keywords)]
        kw2 = self.keywords[(self.turn + 1) % len(self.keywords)]
        weeks = self.rng.randint(3, 8)
        values: dict[str, object] = {
            **self.base,
            "kw": kw,
            "kw2": kw2,
            "Kw": title_case(kw),
            "n": self.rng.randint(2, 5),
            "pct": self.rng.choice((18, 22, 27, 31, 35, 40, 42, 48)),
            "weeks": weeks,
            "weeks2": weeks + self.rng.randint(4, 8),
            **extra,
        }
        return template.format(**values)

    def next_keyword(self) -> None:
        self.turn += 1


def _pick(rng: random.Random, pool: Sequence[str], k: int) -> list[str]:
    """k items in pool order, so that paragraphs keep their logical flow."""
    k = max(0, min(k, len(pool)))
    return [pool[i] for i in sorted(rng.sample(range(len(pool)), k))]


def cta_sentence(cta: str, rng: random.Random) -> str:
    return rng.choice(_CTA_LEADS) + ensure_period(cta or DEFAULT_CTA)


def _paragraphs(fill: _Filler, pool: Sequence[str], count: int) -> list[str]:
    chosen = _pick(fill.rng, pool, min(count, len(pool)))
    extra = [fill.spare.pop() for _ in range(min(2, count - len(chosen), len(fill.spare)))]
    text = [fill(s) for s in chosen]
    if len(text) > 4 or extra:  # long sections read better as two paragraphs
        half = (len(text) + 1) // 2
        return [" ".join(text[:half]), " ".join(text[half:] + [fill(s) for s in extra])]
    return [" ".join(text)]


def write_article(brief: Brief, rng: random.Random, max_words: int | None = None) -> str:
    """A candidate article in Markdown: title, hook, 3–5 sections, conclusion and CTA."""
    kind = archetype_for(brief.angle, rng)
    fill = _Filler(brief, rng)
    roles = list(ARCHETYPES[kind][1])
    words = min(brief.words, max_words) if max_words else brief.words
    if words > 650:  # long briefs get five sections, borrowing roles from other archetypes
        roles += [r for r in ("example", "mistakes", "measure", "how", "why") if r not in roles]
        count = 5
    else:
        count = rng.randint(3, min(4, len(roles)))
    roles = roles[:count]
    per_section = max(2, round((words - 110) / _WORDS_PER_SENTENCE / count))
    title = fill(rng.choice(TITLES[kind]), sections=count)
    headings = [fill(rng.choice(ROLES[role][0])) for role in roles]
    if kind in ("checklist", "howto"):
        headings = [f"{i}. {h}" if kind == "checklist" else h for i, h in enumerate(headings, 1)]
    lines = [f"# {title}", "", fill(rng.choice(HOOKS))]
    preview = ", ".join(_bare(h) for h in headings[:-1]) + f" and {_bare(headings[-1])}"
    framing = f"Think of what follows as {fill.base['angle']}: we cover {soft_lower(preview)}."
    lines += ["", f"{fill(rng.choice(INTRO))} {framing}"]
    for role, heading in zip(roles, headings, strict=True):
        fill.next_keyword()
        lines += ["", f"## {heading}"]
        for paragraph in _paragraphs(fill, ROLES[role][1], per_section):
            lines += ["", paragraph]
        if role == "how" and kind in ("howto", "checklist"):
            lines += ["", *_checklist(fill)]
    lines += ["", f"## {rng.choice(CONCLUSION[0])}", ""]
    lines.append(" ".join(fill(s) for s in _pick(rng, CONCLUSION[1], 2)))
    lines += ["", cta_sentence(brief.call_to_action, rng)]
    return "\n".join(lines) + "\n"


def _bare(heading: str) -> str:
    return re.sub(r"^(?:\d+\.|Step \d+:|Tip \d+:)\s*", "", heading).strip()


def _checklist(fill: _Filler) -> list[str]:
    items = (
        "Write down one goal and one metric",
        "Choose a single channel for {audience}",
        "Publish on a fixed schedule",
        "Make {kw} part of every piece",
        "Review results every Friday",
        "Double down on what works",
    )
    return [f"- {fill(item)}" for item in _pick(fill.rng, items, 4)]


def _role_for(heading: str) -> str:
    lowered = heading.lower()
    cues = {
        "how": ("action", "process", "to work", "get started", "put "),
        "myth": ("myth", "wrong", "overrated"),
        "measure": ("measure", "metric", "track", "knowing what works", "progress"),
        "data": ("number", "data", "research", "needle"),
        "mistakes": ("mistake", "pitfall", "avoid", "go wrong"),
        "why": ("why", "matter", "case for", "stake"),
        "foundation": ("goal", "basic", "groundwork", "foundation", "start with"),
        "example": ("example", "case study", "practice"),
        "story": ("started", "problem", "story"),
        "turn": ("turning point", "what changed", "difference"),
        "lessons": ("lesson", "take away", "takeaway"),
        "truth": ("actually works", "better way", "holds up"),
    }
    for role, words in cues.items():
        if any(word in lowered for word in words):
            return role
    return "how"


def _shape(sentence: str) -> str:
    """A sentence with numbers blanked out: templates filled twice look the same."""
    return re.sub(r"\d+", "#", ensure_period(sentence).lower())


def _split_point(point: str) -> tuple[str, str]:
    """'Heading — sentence' (as the simulated extractor writes them) or a plain sentence."""
    head, sep, rest = point.partition(" — ")
    if sep and len(head) < 80:
        return head.strip(), rest.strip()
    words = point.rstrip(".").split()
    return title_case(" ".join(words[:7])), point


def _sections(cards: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    """(heading, lead sentence) from the cards' key points, best card first, no repeats."""
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    for rank in range(6):
        for card in cards:
            points = [str(p) for p in card.get("key_points", []) if str(p).strip()]
            if rank < len(points):
                head, sentence = _split_point(points[rank])
                key = _bare(head).lower()
                if key not in seen and not key.startswith(("conclusion", "final")):
                    seen.add(key)
                    out.append((head.removeprefix("Step ").lstrip("0123456789.: "), sentence))
    return out


def write_merged_body(
    brief: Brief, cards: Sequence[dict[str, Any]], rng: random.Random, cta: str
) -> str:
    """The synthesized post body: intro from the best hooks, sections from key points, CTA."""
    fill = _Filler(brief, rng)
    used: set[str] = set()  # sentences and templates already in the body
    lead: set[str] = set()  # the current section's lead sentence

    def fresh(pool: Sequence[str], k: int) -> list[str]:
        shapes = {t: _shape(fill(t)) for t in pool}
        chosen = _pick(rng, [t for t in pool if shapes[t] not in used | lead], k)
        used.update(shapes[t] for t in chosen)
        return [fill(t) for t in chosen]

    hooks = [str(c.get("hook", "")).strip() for c in cards if c.get("hook")]
    sections = _sections(cards)
    target = min(5, len(sections))
    heads = [_bare(h) for h, _ in sections[:target]]
    preview = ", ".join(heads[:-1]) + f" and {heads[-1]}" if len(heads) > 1 else "".join(heads)
    preview = soft_lower(preview)
    lines = [hooks[0] if hooks else fill(rng.choice(HOOKS)), ""]
    framing = f"In this post we bring together the best ideas on {fill.base['topic']}"
    lines.append(f"{fill(rng.choice(INTRO))} {framing}{': ' + preview if preview else ''}.")
    per_section = max(2, round((brief.words - 120) / _WORDS_PER_SENTENCE / max(3, target)) - 1)
    claims = [str(c) for card in cards for c in card.get("claims", []) if re.search(r"\d", str(c))]
    for i, (head, sentence) in enumerate(sections[:target]):
        fill.next_keyword()
        body = [ensure_period(sentence)]
        lead.clear()
        lead.add(_shape(body[0]))
        used.add(_shape(body[0]))
        body += fresh(ROLES[_role_for(head)][1], per_section)
        if i < len(claims) and _shape(claims[i]) not in used:
            body.append(ensure_period(claims[i]))
            used.add(_shape(claims[i]))
        half = (len(body) + 1) // 2 if len(body) > 4 else len(body)
        lines += ["", f"## {head}", "", " ".join(body[:half])]
        if body[half:]:
            lines += ["", " ".join(body[half:])]
    lead.clear()
    for role in ("why", "how", "measure")[: max(0, 3 - target)]:
        lines += ["", f"## {fill(ROLES[role][0][0])}", ""]
        lines.append(" ".join(fresh(ROLES[role][1], per_section + 1)))
    lines += ["", f"## {rng.choice(CONCLUSION[0])}", ""]
    lines.append(" ".join(fresh(CONCLUSION[1], 2)))
    lines += ["", cta_sentence(cta, rng)]
    return "\n".join(lines) + "\n"
