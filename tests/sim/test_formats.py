"""response_format negotiation per profile: accepted forms, exact rejections, schema conformance."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

import httpx
import pytest
from pydantic import BaseModel, Field

from postgen.domain import ArticleCard, JudgeVote
from postgen.sim import SimServer

from .helpers import CARD_FIELDS, CRITERIA, chat, reply_json, reply_text

Make = Callable[..., SimServer]
ARTICLE = (
    "# Remote Work That Works\n\nMost teams struggle with focus. Here is why.\n\n"
    "## Set Clear Goals\n\nWrite down one goal and one metric for the quarter.\n\n"
    "## Protect Focus Time\n\nBlock two hours a day without meetings.\n\n"
    "## Conclusion\n\nBook a free 20-minute consultation."
)


def extract(n: int = 1) -> str:
    return f'Extract a card.\n<article id="{n}">\n{ARTICLE}\nVariant {n}.\n</article>'


class Verdict(BaseModel):
    sentiment: Literal["positive", "negative", "neutral"]
    title: str
    tags: list[str] = Field(min_length=2, max_length=3)
    score: int = Field(ge=1, le=10)


def json_schema(model: type[BaseModel], name: str = "output") -> dict[str, Any]:
    schema = model.model_json_schema()
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


def anyscale(model: type[BaseModel]) -> dict[str, Any]:
    return {"type": "json_object", "schema": model.model_json_schema()}


def _post(server: SimServer, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=10)


LLAMACPP_JSON_SCHEMA_500 = {
    "error": {
        "message": (
            "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', "
            "'type'), 'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema', "
            "'ctx': {'expected': \"'text' or 'json_object'\"}}\n\n"
            '  File "llama_cpp/server/app.py", line 408, in create_chat_completion\n'
            "    POST /v1/chat/completions"
        ),
        "type": "internal_server_error",
        "param": None,
        "code": None,
    }
}


def test_llamacpp_rejects_json_schema_with_its_500(make_server: Make) -> None:
    server = make_server(profile="llamacpp")
    response = _post(server, chat(extract(), response_format=json_schema(Verdict)))
    assert response.status_code == 500
    assert response.json() == LLAMACPP_JSON_SCHEMA_500
    assert "literal_error" in response.json()["error"]["message"]  # how a client can tell
    assert server.stats()["by_status"] == {"500": 1}
    assert server.stats()["response_formats"] == {"json_schema": 1}


def test_llamacpp_honours_json_object_with_schema(make_server: Make) -> None:
    server = make_server(profile="llamacpp")
    for n in range(1, 9):
        card = reply_json(_post(server, chat(extract(n), response_format=anyscale(ArticleCard))))
        ArticleCard.model_validate(card)
        assert set(card) >= CARD_FIELDS
    verdict = reply_json(_post(server, chat("How do you feel?", response_format=anyscale(Verdict))))
    Verdict.model_validate(verdict)
    assert server.stats()["response_formats"] == {"json_object+schema": 9}


def test_without_a_schema_a_small_model_may_drop_fields(make_server: Make) -> None:
    server = make_server(profile="llamacpp")
    cards = [
        reply_json(_post(server, chat(extract(n), response_format={"type": "json_object"})))
        for n in range(1, 13)
    ]
    incomplete = [c for c in cards if not set(c) >= CARD_FIELDS]
    assert 0 < len(incomplete) < len(cards)
    assert all(len(CARD_FIELDS - set(c)) == 1 for c in incomplete)
    kept = make_server(profile="llamacpp", schemaless_drops_fields=False)
    for n in range(1, 13):
        card = reply_json(_post(kept, chat(extract(n), response_format={"type": "json_object"})))
        assert set(card) >= CARD_FIELDS


def test_llamacpp_accepts_text_and_rejects_unknown_types(make_server: Make) -> None:
    server = make_server(profile="llamacpp")
    assert _post(server, chat("hi", response_format={"type": "text"})).status_code == 200
    other = _post(server, chat("hi", response_format={"type": "yaml"}))
    assert other.status_code == 500 and "'input': 'yaml'" in other.json()["error"]["message"]


def test_openai_honours_json_schema_and_rejects_unknown_types(make_server: Make) -> None:
    server = make_server(profile="openai")
    verdict = reply_json(
        _post(server, chat("How do you feel?", response_format=json_schema(Verdict)))
    )
    assert set(verdict) == {"sentiment", "title", "tags", "score"}
    Verdict.model_validate(verdict)
    vote_prompt = f'Score this card.\n<card>{{"title": "T"}}</card>\n{CRITERIA}'
    vote = reply_json(_post(server, chat(vote_prompt, response_format=json_schema(JudgeVote))))
    assert len(JudgeVote.model_validate(vote).criteria) == 6
    bad = _post(server, chat("hi", response_format={"type": "yaml"}))
    assert bad.status_code == 400
    assert bad.json()["error"] == {
        "message": "Invalid value: 'yaml'. Supported values are: 'json_object', 'json_schema', "
        "and 'text'.",
        "type": "invalid_request_error",
        "param": "response_format.type",
        "code": "invalid_value",
    }


def test_schema_enums_are_respected(make_server: Make) -> None:
    class Card(BaseModel):
        title: str
        tone: Literal["formal", "playful"]  # the simulator's natural tone is neither

    server = make_server(profile="openai")
    card = reply_json(_post(server, chat(extract(), response_format=json_schema(Card))))
    assert card["tone"] in ("formal", "playful") and card["title"] == "Remote Work That Works"


def test_openai_ignores_the_schema_of_json_object(make_server: Make) -> None:
    server = make_server(profile="openai")
    reply = reply_json(_post(server, chat("How do you feel?", response_format=anyscale(Verdict))))
    assert isinstance(reply, dict) and "sentiment" not in reply  # JSON, but not that schema


def test_anthropic_ignores_response_format(make_server: Make) -> None:
    server = make_server(profile="anthropic")
    text = reply_text(_post(server, chat("How do you feel?", response_format=json_schema(Verdict))))
    with pytest.raises(ValueError):
        json.loads(text)  # prose: the schema was not applied


def test_ollama_json_schema_honoured_json_object_schema_ignored(make_server: Make) -> None:
    server = make_server(profile="ollama", schemaless_drops_fields=False)
    honoured = reply_json(
        _post(server, chat("How do you feel?", response_format=json_schema(Verdict)))
    )
    Verdict.model_validate(honoured)
    card = reply_json(_post(server, chat(extract(), response_format=anyscale(Verdict))))
    assert "sentiment" not in card and set(card) >= CARD_FIELDS


def test_stats_count_each_form(make_server: Make) -> None:
    server = make_server()
    forms: list[Any] = [
        None,
        {"type": "text"},
        {"type": "json_object"},
        anyscale(Verdict),
        json_schema(Verdict),
        {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
        {"type": "yaml"},
    ]
    for rf in forms:
        body = chat("hi") if rf is None else chat("hi", response_format=rf)
        assert _post(server, body).status_code == 200
    assert server.stats()["response_formats"] == {
        "json_object": 1,
        "json_object+schema": 1,
        "json_schema": 2,
        "none": 1,
        "other": 1,
        "text": 1,
    }
