"""`conform` and `from_schema`: what grammar-constrained decoding guarantees, as pure functions."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from postgen.sim.formats import read_format
from postgen.sim.schema import conform, from_schema


class Point(BaseModel):
    label: Literal["a", "b"]
    weight: float = Field(ge=0, le=1)


class Shape(BaseModel):
    name: str = Field(max_length=5)
    points: list[Point] = Field(min_length=2, max_length=3)
    note: str | None = None
    count: int


def test_conform_fills_required_clamps_and_follows_refs() -> None:
    schema = Shape.model_json_schema()  # nested model under $defs
    value = {"name": "triangle", "points": [{"label": "z", "weight": 7}], "extra": 1}
    shaped = conform(value, schema)
    Shape.model_validate(shaped)
    assert shaped["name"] == "trian" and shaped["count"] == 0
    assert shaped["points"][0] == {"label": "a", "weight": 1.0} and len(shaped["points"]) == 2
    assert shaped["extra"] == 1  # additional properties are allowed unless forbidden
    assert "note" not in shaped  # optional and absent: a decoder need not write it


def test_conform_drops_what_the_schema_forbids_and_caps_arrays() -> None:
    schema = {
        "type": "object",
        "properties": {"tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2}},
        "required": ["tags"],
        "additionalProperties": False,
    }
    assert conform({"tags": ["a", "b", "c"], "x": 1}, schema) == {"tags": ["a", "b"]}
    assert conform({"tags": [1]}, schema) == {"tags": ["1"]}


def test_valid_numbers_keep_their_type() -> None:
    assert conform(7, {"type": "number", "minimum": 1, "maximum": 10}) == 7
    assert isinstance(conform(7, {"type": "number"}), int)
    assert conform(2.6, {"type": "integer"}) == 3


def test_from_schema_writes_a_valid_value() -> None:
    Shape.model_validate(from_schema(Shape.model_json_schema()))
    assert from_schema({"type": "string", "enum": ["x", "y"]}) == "x"
    assert from_schema({"anyOf": [{"type": "null"}, {"type": "integer", "minimum": 3}]}) == 3


def test_read_format_classifies_each_form() -> None:
    schema = {"type": "object"}
    cases = [
        ({}, "none"),
        ({"response_format": None}, "none"),
        ({"response_format": {"type": "text"}}, "text"),
        ({"response_format": {"type": "json_object"}}, "json_object"),
        ({"response_format": {"type": "json_object", "schema": schema}}, "json_object+schema"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"schema": schema}}},
            "json_schema",
        ),
        ({"response_format": "json"}, "other"),
        ({"response_format": {"type": "yaml"}}, "other"),
    ]
    for body, form in cases:
        assert read_format(body).form == form, body
    wrapped = {"type": "json_schema", "json_schema": {"name": "n", "schema": schema}}
    assert read_format({"response_format": wrapped}).schema == schema
