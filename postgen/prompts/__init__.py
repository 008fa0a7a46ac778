"""Prompt templates (Jinja2). Each kind defines `system()` and `user()` macros.

May import: llm (message types), domain, errors.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from postgen.llm.types import Message

__all__ = ["render", "render_repair"]


@cache
def _env() -> Environment:
    return Environment(
        loader=PackageLoader("postgen", "prompts"),
        undefined=StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,  # prompts are plain text, not HTML
    )


def render(kind: str, **context: Any) -> list[Message]:
    """The system and user messages for one prompt kind."""
    module = _env().get_template(f"{kind}.j2").make_module(context)
    return [
        {"role": "system", "content": str(module.system()).strip()},  # type: ignore[attr-defined]
        {"role": "user", "content": str(module.user()).strip()},  # type: ignore[attr-defined]
    ]


def render_repair(error: str) -> str:
    """The follow-up message that asks the model to fix an unusable reply."""
    return _env().get_template("repair.j2").render(error=error).strip()
