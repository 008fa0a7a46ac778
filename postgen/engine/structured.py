"""Structured output: find the JSON object in a reply, tolerantly, and validate it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from postgen.errors import InvalidOutput

__all__ = ["Fix", "Parsed", "extract_json_object", "parse_model", "schema_for", "validate_model"]

# Repairs a parsed reply in place before validation (e.g. clamps scores into range) and
# returns how many values it changed, so every repair is counted, never silent.
Fix = Callable[[dict[str, Any]], int]

M = TypeVar("M", bound=BaseModel)

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Parsed:
    """A JSON object and whether getting it needed a repair (fence or prose stripped)."""

    value: dict[str, Any]
    repaired: bool


def extract_json_object(text: str) -> Parsed:
    """The first complete JSON object in `text`, tolerating code fences and prose around it."""
    stripped = text.strip()
    direct = _loads_object(stripped)
    if direct is not None:
        return Parsed(direct, repaired=False)
    for fenced in _FENCE.findall(stripped):
        found = _loads_object(fenced.strip()) or _scan(fenced)
        if found is not None:
            return Parsed(found, repaired=True)
    found = _scan(stripped)
    if found is not None:
        return Parsed(found, repaired=True)
    if "{" in stripped:
        raise InvalidOutput("the JSON object is incomplete or malformed (truncated?)")
    raise InvalidOutput("the reply contains no JSON object")


def parse_model(text: str, model: type[M]) -> tuple[M, bool]:
    """Validate the reply's JSON object as `model`; returns it and whether it was repaired."""
    parsed = extract_json_object(text)
    return validate_model(parsed.value, model), parsed.repaired


def validate_model(value: dict[str, Any], model: type[M]) -> M:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise InvalidOutput(_describe(exc)) from None


def schema_for(model: type[BaseModel]) -> dict[str, Any]:
    """A JSON schema for `response_format`, without pydantic's titles."""
    schema = model.model_json_schema()
    schema.pop("title", None)
    return schema


def _loads_object(text: str) -> dict[str, Any] | None:
    try:
        # strict=False: raw newlines inside strings (llama.cpp's JSON grammar lets them
        # through) are not worth a re-ask.
        value = json.loads(text, strict=False)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _scan(text: str) -> dict[str, Any] | None:
    decoder = json.JSONDecoder(strict=False)
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def _describe(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "object"
        problems.append(f"{where}: {err['msg']}")
    return "schema violation: " + "; ".join(problems)
