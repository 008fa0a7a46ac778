"""Make a JSON value fit a JSON schema, the way grammar-constrained decoding does.

A server that honours a schema cannot emit a reply that violates it: required fields are
present, enum values are respected, arrays have their bounds. `conform` bends the simulator's
generated value into that shape; `from_schema` writes a value from the schema alone (for a
prompt whose natural answer is prose). Both are deterministic and bounded: recursion stops at
depth 8 and arrays are cut at 8 items unless the schema demands more (at most 64).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["conform", "from_schema"]

_MAX_DEPTH = 8
_DEFAULT_ITEMS = 1
_MAX_ITEMS = 64
Schema = Mapping[str, Any]


def conform(value: Any, schema: Schema, root: Schema | None = None, depth: int = 0) -> Any:
    """`value` changed as little as possible so that it validates against `schema`."""
    root = schema if root is None else root
    schema = _resolve(schema, root)
    if depth > _MAX_DEPTH:
        return from_schema(schema, root, depth=depth)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return value if value in schema["enum"] else schema["enum"][0]
    branches = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(branches, list) and branches:
        return conform(value, _branch_for(value, branches, root), root, depth + 1)
    kind = _type_of(schema, value)
    if kind == "object":
        return _conform_object(value, schema, root, depth)
    if kind == "array":
        return _conform_array(value, schema, root, depth)
    if kind in ("integer", "number"):
        return _conform_number(value, schema, kind)
    if kind == "string":
        return _conform_string(value, schema)
    if kind == "boolean":
        return value if isinstance(value, bool) else bool(value)
    if kind == "null":
        return None
    return value  # no type constraint


def from_schema(
    schema: Schema, root: Schema | None = None, name: str = "value", depth: int = 0
) -> Any:
    """A plausible value for `schema` with nothing to start from."""
    root = schema if root is None else root
    schema = _resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    branches = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(branches, list) and branches:
        usable = [b for b in branches if _resolve(b, root).get("type") != "null"] or branches
        return from_schema(usable[0], root, name, depth + 1)
    if "default" in schema:
        return schema["default"]
    kind = _type_of(schema, None)
    if kind == "object":
        return _conform_object({}, schema, root, depth)
    if kind == "array":
        return _conform_array([], schema, root, depth)
    if kind in ("integer", "number"):
        return _conform_number(None, schema, kind)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _conform_string(f"{name.replace('_', ' ')}", schema)


def _resolve(schema: Any, root: Schema) -> Schema:
    """Follow local `$ref`s (`#/$defs/Card`), as pydantic's schemas use them."""
    seen = 0
    while isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str) and seen < 16:
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        schema = target
        seen += 1
    return schema if isinstance(schema, Mapping) else {}


def _type_of(schema: Schema, value: Any) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        for candidate in kind:
            if _matches(value, candidate):
                return str(candidate)
        return str(next((k for k in kind if k != "null"), kind[0])) if kind else None
    if kind is None and "properties" in schema:
        return "object"
    if kind is None and "items" in schema:
        return "array"
    return kind if isinstance(kind, str) else None


def _matches(value: Any, kind: str) -> bool:
    checks = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
    }
    check = checks.get(kind)
    return bool(check and check(value))


def _branch_for(value: Any, branches: list[Any], root: Schema) -> Schema:
    resolved = [_resolve(b, root) for b in branches]
    for branch in resolved:
        kind = branch.get("type")
        if isinstance(kind, str) and _matches(value, kind):
            return branch
    usable = [b for b in resolved if b.get("type") != "null"]
    return usable[0] if usable else resolved[0]


def _conform_object(value: Any, schema: Schema, root: Schema, depth: int) -> dict[str, Any]:
    data: dict[str, Any] = dict(value) if isinstance(value, dict) else {}
    properties = schema.get("properties")
    properties = properties if isinstance(properties, Mapping) else {}
    required = schema.get("required")
    required = [str(r) for r in required] if isinstance(required, list) else []
    out: dict[str, Any] = {}
    for name, sub in properties.items():
        if name in data:
            out[name] = conform(data[name], sub, root, depth + 1)
        elif name in required:
            out[name] = from_schema(sub, root, name, depth + 1)
    for name in required:
        if name not in out:
            out[name] = data.get(name, f"{name.replace('_', ' ')}")
    if schema.get("additionalProperties", True) is not False:
        out.update({k: v for k, v in data.items() if k not in out})
    return out


def _conform_array(value: Any, schema: Schema, root: Schema, depth: int) -> list[Any]:
    items_schema = schema.get("items")
    items_schema = items_schema if isinstance(items_schema, Mapping) else {}
    items = list(value) if isinstance(value, list) else []
    low = _bound(schema.get("minItems"), 0)
    high = _bound(schema.get("maxItems"), _MAX_ITEMS)
    items = items[: min(high, _MAX_ITEMS)]
    out = [conform(item, items_schema, root, depth + 1) for item in items]
    want = max(low, _DEFAULT_ITEMS if not isinstance(value, list) else 0)
    while len(out) < min(want, high, _MAX_ITEMS):
        out.append(from_schema(items_schema, root, f"item {len(out) + 1}", depth + 1))
    return out


def _conform_number(value: Any, schema: Schema, kind: str) -> int | float:
    if _matches(value, kind) and _within(value, schema):
        kept: int | float = value
        return kept
    number: float
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float(schema.get("minimum", 0))
    if not math.isfinite(number):
        number = 0.0
    low, high = schema.get("minimum"), schema.get("maximum")
    if isinstance(low, int | float):
        number = max(number, float(low))
    if isinstance(high, int | float):
        number = min(number, float(high))
    return round(number) if kind == "integer" else number


def _within(value: float, schema: Schema) -> bool:
    low, high = schema.get("minimum"), schema.get("maximum")
    if isinstance(low, int | float) and value < low:
        return False
    return not (isinstance(high, int | float) and value > high)


def _conform_string(value: Any, schema: Schema) -> str:
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    high = schema.get("maxLength")
    low = _bound(schema.get("minLength"), 0)
    if isinstance(high, int) and high >= 0:
        text = text[:high]
    if len(text) < low:
        text = text + "x" * (low - len(text))
    return text


def _bound(value: Any, default: int) -> int:
    return value if isinstance(value, int) and value >= 0 else default
