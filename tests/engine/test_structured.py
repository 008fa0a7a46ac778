"""Tolerant JSON parsing and validation of model replies."""

from __future__ import annotations

import pytest

from postgen.domain import ArticleCard, JudgeVote, PostDraft
from postgen.engine.structured import extract_json_object, parse_model
from postgen.errors import InvalidOutput

CARD = (
    '{"title": "Ship daily", "hook": "Small teams can ship every day.", "summary": "How.",'
    ' "key_points": ["a", "b", "c"], "audience": "CTOs", "tone": "calm",'
    ' "claims": ["x"], "call_to_action": "Book a demo", "keywords": ["ci"]}'
)


def test_bare_json_needs_no_repair() -> None:
    parsed = extract_json_object(CARD)
    assert parsed.value["title"] == "Ship daily"
    assert parsed.repaired is False


def test_fenced_json_is_repaired() -> None:
    parsed = extract_json_object(f"```json\n{CARD}\n```")
    assert parsed.value["audience"] == "CTOs"
    assert parsed.repaired is True


def test_prose_around_json_is_repaired() -> None:
    parsed = extract_json_object(f"Sure! Here is the card:\n{CARD}\nHope this helps.")
    assert parsed.value["hook"].startswith("Small teams")
    assert parsed.repaired is True


def test_first_object_wins_over_later_braces() -> None:
    parsed = extract_json_object('note {not json} then {"a": 1} and {"b": 2}')
    assert parsed.value == {"a": 1}


def test_truncated_json_is_invalid_output() -> None:
    with pytest.raises(InvalidOutput, match="incomplete or malformed"):
        extract_json_object(CARD[:60])


def test_no_json_at_all() -> None:
    with pytest.raises(InvalidOutput, match="no JSON object"):
        extract_json_object("I cannot help with that.")


def test_schema_violation_names_the_field() -> None:
    with pytest.raises(InvalidOutput, match="key_points"):
        parse_model(CARD.replace('["a", "b", "c"]', "[]"), ArticleCard)


def test_score_out_of_range_is_rejected() -> None:
    reply = '{"criteria": [{"name": "hook_strength", "score": 14, "rationale": "r"}]}'
    with pytest.raises(InvalidOutput, match="score"):
        parse_model(reply, JudgeVote)


def test_long_description_is_trimmed_not_rejected() -> None:
    draft, _ = parse_model(
        '{"title": "T t t", "description": "' + "word " * 60 + '",'
        ' "keywords": [], "body_markdown": "' + "body " * 10 + '"}',
        PostDraft,
    )
    assert len(draft.description) <= 160
