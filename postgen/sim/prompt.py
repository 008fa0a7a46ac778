"""Read a chat request's messages: which stage sent it and what its tagged inputs are.

The contract with `postgen/prompts/*.j2` (system and user messages are searched; assistant
turns, i.e. a previous bad answer in a repair re-ask, are not):

- synthesize: `<cards>[card, …]</cards>` (JSON list) and a `<brief>`;
- score: `<card>{card}</card>`, `<criteria>` with one `- name: description` line each,
  optionally `<vote>N</vote>`;
- extract: `<article id="N">markdown</article>`;
- candidate: `<brief>` holding `<topic>`, `<audience>`, `<tone>`, `<keywords>` (comma
  separated), `<words>`, `<call_to_action>` and `<angle>` (the angle may also sit outside);
- anything else: generic.

A closed tag pair wins over a bare opening tag, so instructions that merely mention a tag do
not change the kind.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Brief", "PromptInfo", "message_text", "parse_criteria", "read_prompt", "tag"]

KINDS = ("candidate", "extract", "score", "synthesize", "generic")
_CRITERION = re.compile(r"^\s*(?:[-*•]|\d+[.)])?\s*\**`?([A-Za-z][A-Za-z0-9_]*)`?\**\s*[:—–-]")


@dataclass(frozen=True, slots=True)
class Brief:
    topic: str
    audience: str
    tone: str
    keywords: tuple[str, ...]
    words: int
    call_to_action: str
    angle: str


@dataclass(frozen=True, slots=True)
class PromptInfo:
    kind: str
    text: str  # every non-assistant message, joined
    last_user: str
    brief: Brief

    def tag(self, name: str) -> str | None:
        return tag(self.text, name)


def message_text(content: Any) -> str:
    """A message's text, whether `content` is a string or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content if isinstance(p, dict)]
        return "\n".join(p for p in parts if isinstance(p, str))
    return ""


def tag(text: str, name: str) -> str | None:
    """The inner text of the first `<name …>…</name>`, stripped and unescaped; None if absent."""
    match = re.search(rf"<{name}(?:\s[^>]*)?>(.*?)</{name}>", text, re.DOTALL | re.IGNORECASE)
    if match is None:
        return None
    return html.unescape(match.group(1).strip())


def read_prompt(messages: Sequence[Any]) -> PromptInfo:
    """Classify by tags in system/user messages; assistant turns (repair re-asks) are skipped."""
    texts: list[str] = []
    last_user = ""
    for message in messages:
        if not isinstance(message, dict) or message.get("role") == "assistant":
            continue
        text = message_text(message.get("content"))
        texts.append(text)
        if message.get("role") == "user":
            last_user = text
    text = "\n".join(texts)
    return PromptInfo(_kind(text), text, last_user, _brief(text))


def _kind(text: str) -> str:
    lowered = text.lower()
    closed = (
        ("synthesize", "cards"),
        ("score", "card"),
        ("extract", "article"),
        ("candidate", "brief"),
    )
    for kind, name in closed:
        if re.search(rf"<{name}(?:\s[^>]*)?>.*?</{name}>", lowered, re.DOTALL):
            return kind
    if "<cards>" in lowered:
        return "synthesize"
    if "<card>" in lowered:
        return "score"
    if "<article" in lowered:
        return "extract"
    if "<brief>" in lowered or "<topic>" in lowered:
        return "candidate"
    return "generic"


def _brief(text: str) -> Brief:
    topic = _clean(tag(text, "topic")) or _title_topic(text) or "content marketing"
    keywords = tuple(
        k.strip() for k in re.split(r"[,;\n]", tag(text, "keywords") or "") if k.strip()
    )
    words_text = tag(text, "words") or ""
    words_match = re.search(r"\d+", words_text)
    words = int(words_match.group()) if words_match else 700
    return Brief(
        topic=topic,
        audience=_clean(tag(text, "audience")) or "marketing teams",
        tone=_clean(tag(text, "tone")) or "friendly and practical",
        keywords=keywords,
        words=max(80, min(words, 4000)),
        call_to_action=_clean(tag(text, "call_to_action")) or "",
        angle=_clean(tag(text, "angle")) or "",
    )


def _title_topic(text: str) -> str:
    """A topic for prompts without `<topic>`: the card's or article's title, if any."""
    match = re.search(r'"title"\s*:\s*"([^"]+)"', text) or re.search(r"^# (.+)$", text, re.M)
    return match.group(1).strip() if match else ""


def _clean(value: str | None) -> str:
    return " ".join(value.split()) if value else ""


def parse_criteria(text: str | None) -> list[str]:
    """Criterion names from `- name: description` lines (also `1. name:` or `**name**:`)."""
    if not text:
        return []
    names: list[str] = []
    for line in text.splitlines():
        match = _CRITERION.match(line)
        if match and match.group(1) not in names:
            names.append(match.group(1))
    if not names:  # perhaps a JSON list or mapping of criteria
        try:
            data = json.loads(text)
        except ValueError:
            return []
        items = data.keys() if isinstance(data, dict) else data if isinstance(data, list) else []
        for item in items:
            name = item.get("name") if isinstance(item, dict) else item
            if isinstance(name, str) and name not in names:
                names.append(name)
    return names
