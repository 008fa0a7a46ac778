"""Deterministic replies per prompt kind: articles, cards, scores, merged posts."""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .formats import Treatment
from .prompt import PromptInfo, parse_criteria, read_prompt
from .schema import conform, from_schema
from .text import (
    ensure_period,
    key_phrases,
    sentence_topic,
    sentences,
    shorten,
    soft_lower,
    title_case,
)
from .writer import DEFAULT_CTA, keywords_of, write_article, write_merged_body

__all__ = [
    "DEFAULT_CRITERIA",
    "Reply",
    "Shaping",
    "estimate_tokens",
    "generate",
    "request_key",
    "requested_max_tokens",
]

DEFAULT_CRITERIA = (
    "hook_strength",
    "audience_fit",
    "clarity_structure",
    "originality",
    "cta_clarity",
    "claim_verifiability",
)
_JSON_KINDS = ("extract", "score", "synthesize")


@dataclass(frozen=True, slots=True)
class Reply:
    kind: str
    content: str
    is_json: bool
    finish_reason: str = "stop"


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def request_key(body: dict[str, Any], config_seed: int) -> str:
    """What content depends on: the messages, the request's seed and the simulator's seed."""
    messages = json.dumps(body.get("messages", []), sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256(messages.encode()).hexdigest()
    return f"{config_seed}:{body.get('seed')}:{digest}"


@dataclass(frozen=True, slots=True)
class Shaping:
    """How a reply is constrained, as the profile negotiated the request's response_format.

    `cap` is the completion-token limit (max_tokens, or what the context window leaves);
    `writer_fits_cap` makes the article writer aim below it (the simulator's own habit)
    instead of being cut off at it (what a real model does).
    """

    treatment: Treatment = Treatment.PLAIN
    schema: Mapping[str, Any] | None = None
    drop_fields: bool = False
    cap: int | None = None
    writer_fits_cap: bool = True


def requested_max_tokens(body: Mapping[str, Any]) -> int | None:
    value = body.get("max_tokens") or body.get("max_completion_tokens")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def shaping_from_body(body: Mapping[str, Any]) -> Shaping:
    """The historic reading: json_object and json_schema both mean a compact JSON reply."""
    rf = body.get("response_format")
    structured = isinstance(rf, dict) and rf.get("type") in ("json_object", "json_schema")
    treatment = Treatment.JSON if structured else Treatment.PLAIN
    return Shaping(treatment, cap=requested_max_tokens(body))


def generate(body: dict[str, Any], config_seed: int, shaping: Shaping | None = None) -> Reply:
    """The reply to one chat request, a pure function of (messages, seeds, shaping)."""
    shaping = shaping or shaping_from_body(body)
    info = read_prompt(body.get("messages", []))
    key = request_key(body, config_seed)
    rng = random.Random(f"{info.kind}:{key}")
    cap = shaping.cap
    schema = shaping.schema if shaping.treatment is Treatment.SCHEMA else None
    if info.kind not in _JSON_KINDS and schema is not None:
        return _capped(Reply(info.kind, _compact(from_schema(schema)), True), cap)
    if info.kind == "candidate":
        fit = int(cap / 1.6) if cap and shaping.writer_fits_cap else None
        text = write_article(info.brief, rng, max_words=fit)
        return _capped(Reply("candidate", text, False), cap)
    if info.kind not in _JSON_KINDS:
        text = _generic(info)
        if shaping.treatment is Treatment.JSON:  # JSON mode answers JSON, whatever was asked
            return _capped(Reply("generic", _compact({"answer": text}), True), cap)
        return _capped(Reply("generic", text, False), cap)
    data = {"extract": _card, "score": _scores, "synthesize": _synthesis}[info.kind](info, rng)
    if schema is not None:
        text = _compact(conform(_keyed_if_asked(data, schema), schema))
    else:
        if shaping.drop_fields:
            data = _drop_a_field(data, random.Random(f"drop:{key}"))
        structured = shaping.treatment in (Treatment.JSON, Treatment.SCHEMA)
        text = _compact(data) if structured else _prompted_json(data, rng)
    return _capped(Reply(info.kind, text, True), cap)


def _compact(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)


def _drop_a_field(data: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """What a small model does without a schema forcing it: now and then, leave a field out."""
    if len(data) < 2 or rng.random() < 0.5:
        return data
    dropped = rng.choice(sorted(data))
    return {k: v for k, v in data.items() if k != dropped}


def _capped(reply: Reply, cap: int | None) -> Reply:
    if cap is None or estimate_tokens(reply.content) <= cap:
        return reply
    return Reply(reply.kind, reply.content[: cap * 4], reply.is_json, "length")


def _prompted_json(data: Any, rng: random.Random) -> str:
    """Without response_format, answer the way chat models do: mostly bare, sometimes fenced."""
    draw = rng.random()
    if draw < 0.6:
        return json.dumps(data, ensure_ascii=False, indent=rng.choice((None, 2)))
    pretty = json.dumps(data, ensure_ascii=False, indent=2)
    if draw < 0.85:
        return f"```json\n{pretty}\n```"
    if draw < 0.95:
        return f"Here is the JSON you asked for:\n\n```json\n{pretty}\n```"
    return f"Sure! Here is the result:\n{pretty}"


# --- extract -------------------------------------------------------------------------------


def _card(info: PromptInfo, rng: random.Random) -> dict[str, Any]:
    article = info.tag("article") or info.text
    title, intro, sections = _parse_markdown(article)
    body_sections = [s for s in sections if not _is_conclusion(s[0])]
    paragraphs = [p for s in sections for p in s[1]]
    all_text = " ".join([*intro, *paragraphs])
    hook = " ".join(sentences(intro[0])[:2]) if intro else shorten(all_text, 200)
    key_points = [
        f"{_bare(h)} — {sentences(ps[0])[0]}" if ps else _bare(h) for h, ps in body_sections
    ][:6]
    for sentence in sentences(all_text):
        if len(key_points) >= 3:
            break
        if sentence not in key_points:
            key_points.append(sentence)
    while len(key_points) < 3:
        key_points.append(f"Practical advice on {info.brief.topic}")
    last = paragraphs[-1] if paragraphs else (intro[-1] if intro else "")
    cta = _cta_from(last) or info.brief.call_to_action or DEFAULT_CTA
    heads = ", ".join(soft_lower(_bare(h)) for h, _ in body_sections[:3]) or "the essentials"
    audience = info.brief.audience if info.tag("audience") else _audience_from(all_text)
    return {
        "title": title or title_case(info.brief.topic),
        "hook": shorten(hook, 300),
        "summary": shorten(f"Written for {audience}, this article covers {heads}.", 400),
        "key_points": [shorten(p, 240) for p in key_points],
        "audience": audience,
        "tone": info.brief.tone if info.tag("tone") else _tone_from(all_text),
        "claims": _claims(" ".join([*intro, *(p for s in body_sections for p in s[1])]), rng),
        "call_to_action": cta,
        "keywords": list(info.brief.keywords) or _top_words(f"{title} {all_text}"),
    }


def _parse_markdown(text: str) -> tuple[str, list[str], list[tuple[str, list[str]]]]:
    """(title, intro paragraphs, [(heading, paragraphs)]) from a Markdown article."""
    title = ""
    intro: list[str] = []
    sections: list[tuple[str, list[str]]] = []
    for block in re.split(r"\n\s*\n", text.strip()):
        block = block.strip()
        first, _, rest = block.partition("\n")
        if first.startswith("# ") and not title:
            title = first[2:].strip()
            block = rest.strip()
        elif first.startswith("## ") or first.startswith("### "):
            sections.append((first.lstrip("#").strip(), []))
            block = rest.strip()
        if not block or block.startswith("#"):
            continue
        plain = " ".join(line.lstrip("-* ").strip() for line in block.splitlines())
        plain = plain.replace("**", "").strip()
        (sections[-1][1] if sections else intro).append(plain)
    return title, intro, sections


def _is_conclusion(heading: str) -> bool:
    lowered = heading.lower()
    cues = ("conclusion", "bottom line", "next step", "go from here", "final", "wrapping up")
    return any(cue in lowered for cue in cues)


def _bare(heading: str) -> str:
    return re.sub(r"^(?:\d+\.|Step \d+:|Tip \d+:)\s*", "", heading).strip()


def _cta_from(paragraph: str) -> str:
    parts = sentences(paragraph)
    if len(parts) > 1 and parts[0].endswith("?"):
        parts = parts[1:]
    return " ".join(parts)


def _audience_from(text: str) -> str:
    match = re.search(r"(?:written|wrote it) for ([^.;]+?)(?: who | that |[.;])", text)
    return match.group(1).strip() if match else "general readers"


def _tone_from(text: str) -> str:
    if text.count("!") >= 3:
        return "enthusiastic"
    if len(re.findall(r"\byou(?:r)?\b", text, re.I)) > len(text.split()) / 40:
        return "conversational and practical"
    return "informative"


def _claims(text: str, rng: random.Random) -> list[str]:
    found = [s for s in sentences(text) if re.search(r"\d", s) and len(s.split()) > 5]
    if not found:
        found = [s for s in sentences(text) if len(s.split()) > 8][:2] or ["No specific claims."]
    return found[: rng.randint(3, 5)]


def _top_words(text: str) -> list[str]:
    return key_phrases(text, 6)


# --- score ---------------------------------------------------------------------------------

_RATIONALES = {
    "hook_strength": "The hook “{hook}” {verdict} at drawing the reader in.",
    "audience_fit": "The card speaks to {audience} and {verdict} at addressing their needs.",
    "clarity_structure": "With {points} key points, “{title}” {verdict} at staying easy to follow.",
    "originality": "“{title}” {verdict} at offering a fresh angle on the topic.",
    "cta_clarity": "The call to action “{cta}” {verdict} at telling the reader what to do next.",
    "claim_verifiability": "Its {claims} claim(s) {verdict2} to check against public sources.",
}
_VERDICTS = {  # score → (verdict, verdict2)
    3: ("struggles", "would be hard"),
    5: ("does an adequate job", "are only partly easy"),
    7: ("does well", "are mostly easy"),
    9: ("excels", "are straightforward"),
}


def _scores(info: PromptInfo, rng: random.Random) -> dict[str, Any]:
    card_text = info.tag("card") or ""
    card = _load_card(card_text)
    names = parse_criteria(info.tag("criteria")) or list(DEFAULT_CRITERIA)
    results = []
    for name in names:
        digest = hashlib.sha256(f"{card_text}|{name}".encode()).digest()
        quality = 5 + digest[0] % 4 + _feature_bonus(name, card)  # per card: 5..8 ± features
        # rng hangs on the whole request (vote tag and seed included): votes differ a little
        score = max(1, min(10, quality + rng.choice((-1, 0, 0, 0, 1))))
        results.append({"name": name, "score": score, "rationale": _rationale(name, score, card)})
    return {"criteria": results}


def _keyed_if_asked(data: dict[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """Votes keyed by criterion name when the schema asks for that shape (postgen's pinned
    vote schema), as a model following it would write them; else the list form."""
    entries = data.get("criteria")
    props = schema.get("properties")
    wanted = props.get("criteria") if isinstance(props, Mapping) else None
    if not (isinstance(entries, list) and isinstance(wanted, Mapping)):
        return data
    if wanted.get("type") != "object":
        return data
    keyed = {e["name"]: {k: v for k, v in e.items() if k != "name"} for e in entries}
    return {**data, "criteria": keyed}


def _load_card(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _feature_bonus(name: str, card: dict[str, Any]) -> int:
    if name == "cta_clarity" and not card.get("call_to_action"):
        return -3
    if name == "claim_verifiability":
        claims = [str(c) for c in card.get("claims", [])]
        return 1 if any(re.search(r"\d", c) for c in claims) else -1
    if name == "hook_strength" and "?" in str(card.get("hook", "")):
        return 1
    return 0


def _rationale(name: str, score: int, card: dict[str, Any]) -> str:
    verdict, verdict2 = _VERDICTS[min(_VERDICTS, key=lambda k: abs(k - score))]
    template = _RATIONALES.get(name, "On {criterion}, “{title}” {verdict}.")
    return template.format(
        hook=shorten(str(card.get("hook", "")), 60),
        title=shorten(str(card.get("title", "the article")), 70),
        audience=card.get("audience") or "its audience",
        points=len(card.get("key_points", [])),
        cta=shorten(str(card.get("call_to_action", "")), 60) or "(none)",
        claims=len(card.get("claims", [])),
        criterion=name.replace("_", " "),
        verdict=verdict,
        verdict2=verdict2,
    )


# --- synthesize ----------------------------------------------------------------------------


def _synthesis(info: PromptInfo, rng: random.Random) -> dict[str, Any]:
    try:
        loaded = json.loads(info.tag("cards") or "[]")
    except ValueError:
        loaded = []
    cards = [c for c in (loaded if isinstance(loaded, list) else []) if isinstance(c, dict)]
    brief = info.brief
    cta = brief.call_to_action or next(
        (str(c["call_to_action"]) for c in cards if c.get("call_to_action")), DEFAULT_CTA
    )
    title = str(cards[0].get("title", "")) if cards else ""
    if brief.topic.lower() not in title.lower():
        title = f"{title_case(brief.topic)}: A Practical Guide for {title_case(brief.audience)}"
    heads = [p.partition(" — ")[0] for c in cards[:2] for p in c.get("key_points", [])]
    heads = [soft_lower(h) for h in heads if len(h) < 60]
    lead = f"How {brief.audience} can get real results from {sentence_topic(brief.topic)}"
    options = [f"{lead}: {', '.join(heads[:n])} and more." for n in (2, 1) if len(heads) >= n]
    description = next((d for d in options if len(d) <= 160), ensure_period(lead))
    keywords: list[str] = []
    for word in [*keywords_of(brief), *(k for c in cards for k in c.get("keywords", []))]:
        if isinstance(word, str) and word.lower() not in (k.lower() for k in keywords):
            keywords.append(word)
    return {
        "title": title,
        "description": shorten(ensure_period(description), 160),
        "keywords": keywords[:8],
        "body_markdown": write_merged_body(brief, cards, rng, cta),
    }


# --- anything else -------------------------------------------------------------------------


def _generic(info: PromptInfo) -> str:
    words = " ".join(info.last_user.split()[:8]) or "your question"
    return (
        f"## About “{words}”\n\nHere is a short, general answer. Start from a clear goal, "
        "keep the first version small, and review the results after a week.\n"
    )
