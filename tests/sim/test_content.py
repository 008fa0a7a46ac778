"""Each prompt kind gets valid, deterministic, topic-aware content."""

from __future__ import annotations

import json
import re

import httpx

from .helpers import (
    BRIEF,
    CARD_FIELDS,
    CRITERIA,
    candidate_prompt,
    chat,
    reply_json,
    reply_text,
)

JSON_MODE = {"response_format": {"type": "json_object"}}


def _article(client: httpx.Client, angle: str = "a practical how-to") -> str:
    return reply_text(client.post("/chat/completions", json=chat(candidate_prompt(angle))))


def _card(client: httpx.Client, article: str, article_id: int = 1) -> dict[str, object]:
    prompt = f'Extract a card.\n<article id="{article_id}">\n{article}\n</article>'
    card = reply_json(client.post("/chat/completions", json=chat(prompt, **JSON_MODE)))
    assert isinstance(card, dict)
    return card


def test_candidate_is_a_markdown_article_about_the_topic(client: httpx.Client) -> None:
    article = _article(client)
    lines = article.splitlines()
    assert lines[0].startswith("# ") and "remote work productivity" in lines[0].lower()
    assert 3 <= sum(line.startswith("## ") for line in lines) <= 6
    assert "Book a free 20-minute consultation" in article.strip().splitlines()[-1]
    assert "small business owners" in article
    assert all(k in article for k in ("remote teams", "async communication", "focus time"))
    assert 350 <= len(article.split()) <= 900


def test_candidates_are_deterministic_and_differ_by_angle(client: httpx.Client) -> None:
    first = _article(client, "a practical how-to")
    assert _article(client, "a practical how-to") == first
    assert _article(client, "a contrarian take") != first
    reseeded = client.post("/chat/completions", json=chat(candidate_prompt("x"), seed=7))
    other = client.post("/chat/completions", json=chat(candidate_prompt("x"), seed=8))
    assert reply_text(reseeded) != reply_text(other)


def test_max_tokens_caps_the_article(client: httpx.Client) -> None:
    body = client.post("/chat/completions", json=chat(candidate_prompt("a story"), max_tokens=120))
    usage = body.json()["usage"]
    assert usage["completion_tokens"] <= 120


def test_extract_card_has_every_field(client: httpx.Client) -> None:
    card = _card(client, _article(client))
    assert set(card) == CARD_FIELDS
    assert "Remote Work Productivity" in str(card["title"])
    assert isinstance(card["key_points"], list) and 3 <= len(card["key_points"]) <= 6
    assert isinstance(card["claims"], list) and 1 <= len(card["claims"]) <= 5
    assert card["audience"] == "small business owners"
    assert "Book a free 20-minute consultation" in str(card["call_to_action"])
    assert isinstance(card["keywords"], list) and card["keywords"]


def test_score_covers_every_criterion_and_votes_differ(client: httpx.Client) -> None:
    card = json.dumps(_card(client, _article(client)))
    votes = []
    for vote in range(4):
        prompt = f"Score this card.\n<card>{card}</card>\n{CRITERIA}\n<vote>{vote}</vote>"
        result = reply_json(client.post("/chat/completions", json=chat(prompt, **JSON_MODE)))
        names = [c["name"] for c in result["criteria"]]
        assert names == re.findall(r"^- (\w+):", CRITERIA, re.M)
        assert all(1 <= c["score"] <= 10 and c["rationale"] for c in result["criteria"])
        votes.append([c["score"] for c in result["criteria"]])
    assert len({tuple(v) for v in votes}) > 1


def test_synthesis_merges_cards(client: httpx.Client) -> None:
    cards = [_card(client, _article(client, a), i) for i, a in enumerate(["how-to", "data"])]
    prompt = f"Merge these.\n{BRIEF}\n<cards>{json.dumps(cards)}</cards>"
    post = reply_json(client.post("/chat/completions", json=chat(prompt, **JSON_MODE)))
    assert set(post) == {"title", "description", "keywords", "body_markdown"}
    assert "remote work productivity" in post["title"].lower()
    assert len(post["description"]) <= 160
    body = post["body_markdown"]
    assert not body.startswith("---") and body.count("\n## ") >= 3
    assert "Book a free 20-minute consultation" in body


def test_prompted_json_is_sometimes_wrapped_but_always_recoverable(client: httpx.Client) -> None:
    styles = set()
    for i in range(40):
        text = reply_text(client.post("/chat/completions", json=chat(f'<article id="{i}"># T{i}')))
        styles.add("fence" if "```" in text else "bare" if text.startswith("{") else "prose")
        start, end = text.index("{"), text.rindex("}") + 1
        assert set(json.loads(text[start:end])) == CARD_FIELDS
    assert {"fence", "bare"} <= styles


def test_repair_reask_keeps_the_kind(client: httpx.Client) -> None:
    messages = [
        {"role": "system", "content": "You extract cards."},
        {"role": "user", "content": '<article id="3"># Hello\n\nWorld.</article>'},
        {"role": "assistant", "content": "{not json"},
        {"role": "user", "content": "That output was invalid JSON. Reply with the JSON only."},
    ]
    card = reply_json(client.post("/chat/completions", json=chat(messages, **JSON_MODE)))
    assert set(card) == CARD_FIELDS


def test_unknown_kind_gets_a_generic_answer(client: httpx.Client) -> None:
    text = reply_text(client.post("/chat/completions", json=chat("Tell me about llamas please")))
    assert "Tell me about llamas" in text
