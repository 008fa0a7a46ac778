"""Schemas that pin what the code needs, and repairs that are counted, never silent."""

from __future__ import annotations

import json

import pytest

from postgen.config import Criterion
from postgen.domain import ArticleCard, Brief, JudgeVote, PostDraft
from postgen.engine.structured import extract_json_object, validate_model
from postgen.errors import InvalidOutput
from postgen.observe.stats import describe_failure
from postgen.stages.extract import card_schema, trim_lists
from postgen.stages.score import clamp_scores, vote_schema
from postgen.stages.synthesize import draft_schema
from scheduler import RetriesExhausted

RUBRIC = {
    "hook": Criterion(weight=1.0, description="d"),
    "clarity": Criterion(weight=2.0, description="e"),
}


def test_the_vote_schema_names_every_criterion_with_integer_scores_in_range() -> None:
    schema = vote_schema(RUBRIC)
    keyed = schema["properties"]["criteria"]
    assert keyed["required"] == ["hook", "clarity"] and keyed["additionalProperties"] is False
    score = keyed["properties"]["clarity"]["properties"]["score"]
    # An enum, because llama.cpp's grammar ignores minimum/maximum (the "<Criterion1>"
    # and out-of-range scores came from an unpinned schema).
    assert score["type"] == "integer" and score["enum"] == list(range(1, 11))


def test_a_keyed_vote_parses_and_out_of_range_scores_are_clamped_and_counted() -> None:
    reply = {
        "criteria": {
            "hook": {"score": 14, "rationale": "strong"},
            "clarity": {"score": 0, "rationale": "muddled"},
        }
    }
    assert clamp_scores(reply) == 2
    vote = validate_model(reply, JudgeVote)
    assert {n: v.score for n, v in vote.by_name().items()} == {"hook": 10, "clarity": 1}
    assert clamp_scores({"criteria": [{"name": "hook", "score": 7}]}) == 0  # the list form too
    assert clamp_scores({"criteria": "nonsense"}) == 0  # left for validation to refuse
    with pytest.raises(InvalidOutput):
        validate_model({"criteria": "nonsense"}, JudgeVote)


def test_the_card_schema_requires_every_field_and_bounds_lists() -> None:
    schema = card_schema()
    assert "article_id" not in schema["properties"]
    assert set(schema["required"]) == set(ArticleCard.model_fields) - {"article_id"}
    value = {"key_points": [f"p{i}" for i in range(9)], "claims": ["c"] * 7, "keywords": []}
    assert trim_lists(value) == 2
    assert len(value["key_points"]) == 6 and len(value["claims"]) == 5


def test_the_draft_body_is_bounded_by_the_brief() -> None:
    brief = Brief(topic="t", audience="a", tone="t", keywords=[], words=120, call_to_action="c")
    body = draft_schema(brief)["properties"]["body_markdown"]
    assert body["maxLength"] == 960 and set(draft_schema(brief)["required"]) == set(
        PostDraft.model_fields
    )


def test_raw_newlines_inside_strings_parse() -> None:
    # llama.cpp's JSON grammar lets a raw newline into a string; json.loads refuses it strictly.
    text = '{"title": "Ship\nit", "n": 1}'
    with pytest.raises(ValueError):
        json.loads(text)
    assert extract_json_object(text).value == {"title": "Ship\nit", "n": 1}


def test_failure_reasons_keep_the_whole_message_on_one_line() -> None:
    long = InvalidOutput("first line\nsecond line " + "x" * 600)
    text = describe_failure(long)
    assert "\n" not in text and "second line" in text and len(text) > 600
    bare = RetriesExhausted("score", 3, TimeoutError(), None)
    assert "stage.score.retry.timeout_s" in describe_failure(bare)
