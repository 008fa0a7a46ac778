"""`response_format` negotiation: which form a request used and what a profile does with it.

Forms (the names `/stats` counts them under):

- `none`: no `response_format`;
- `text`: `{"type": "text"}`;
- `json_object`: `{"type": "json_object"}`;
- `json_object+schema`: `{"type": "json_object", "schema": {...}}` (llama-cpp-python, Anyscale);
- `json_schema`: `{"type": "json_schema", "json_schema": {"name", "schema", "strict"}}` (OpenAI);
- `other`: any other value.

Treatments: `plain` (the model answers as the prompt asks, no constraint), `json` (a JSON
object, no schema), `schema` (JSON constrained to the schema), `reject` (the profile's error).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["FORMS", "FormatRequest", "Treatment", "read_format"]

FORMS = ("none", "text", "json_object", "json_object+schema", "json_schema", "other")


class Treatment(enum.Enum):
    PLAIN = "plain"
    JSON = "json"
    SCHEMA = "schema"
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class FormatRequest:
    form: str
    type_: str | None  # the `type` value as sent (for error texts)
    schema: Mapping[str, Any] | None


def read_format(body: Mapping[str, Any]) -> FormatRequest:
    """Classify the request's `response_format` and find its schema, if it carries one."""
    if "response_format" not in body or body["response_format"] is None:
        return FormatRequest("none", None, None)
    rf = body["response_format"]
    if not isinstance(rf, Mapping):
        return FormatRequest("other", None, None)
    type_ = rf.get("type")
    if type_ == "text":
        return FormatRequest("text", type_, None)
    if type_ == "json_object":
        schema = rf.get("schema")
        if isinstance(schema, Mapping):
            return FormatRequest("json_object+schema", type_, schema)
        return FormatRequest("json_object", type_, None)
    if type_ == "json_schema":
        wrapper = rf.get("json_schema")
        schema = wrapper.get("schema") if isinstance(wrapper, Mapping) else None
        return FormatRequest("json_schema", type_, schema if isinstance(schema, Mapping) else None)
    return FormatRequest("other", type_ if isinstance(type_, str) else None, None)


def treatments(**by_form: Treatment) -> Mapping[str, Treatment]:
    """A complete form → treatment table; forms not named are answered `plain`."""
    names = {name.replace("__", "+"): t for name, t in by_form.items()}
    unknown = set(names) - set(FORMS)
    if unknown:
        raise ValueError(f"unknown response_format form(s): {sorted(unknown)}")
    return {form: names.get(form, Treatment.PLAIN) for form in FORMS}
