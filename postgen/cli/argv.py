"""The command line before Hydra sees it: `--help`, `--version`, and free text typed as is.

Hydra's override grammar rejects unquoted non-ASCII letters and reads `a, b` as a sweep, so
`topic=Миграции баз данных` or `brief.audience=CTOs, VPs` would fail. A value of a text setting
(a `str` field of the schema) that Hydra cannot take literally is quoted for it here, so any
text works as typed; values that already parse as the user meant are left alone.
"""

from __future__ import annotations

import dataclasses
import re
import types
from collections.abc import Iterator, Sequence
from functools import cache
from typing import Any, Union, get_args, get_origin, get_type_hints

from hydra.core.override_parser.overrides_parser import OverridesParser

from postgen.config import Settings

__all__ = ["HELP", "hydra_quote", "quote_free_text", "text_keys"]

HELP = """\
usage: python -m postgen [KEY=VALUE ...] [-m KEY=A,B ...]

Write a marketing blog post with an LLM: N candidate drafts, a structured card per draft,
judge votes against a weighted rubric, and the best cards merged into one post (Markdown
with YAML front matter). Without settings it runs on the built-in simulated provider:
no key, no network.

Settings people use (KEY=VALUE; all of them: README, "Configuration"):
  topic="..."                  what the post is about (any text, typed as is)
  topic_file=PATH              read the topic (a brief) from a UTF-8 file instead
  brief.audience="..."         who it is for; also brief.tone, brief.call_to_action
  brief.keywords="[a, b]"      SEO keywords (default: phrases of the topic)
  iterations=5                 candidate drafts;  votes=3  judge votes per card
  parallel=true                run calls concurrently (default: one at a time)
  concurrency=5                ceiling per stage; stage.score.concurrency=10 for one stage
  llm=openai                   provider preset: sim (default), openai, llamacpp, ollama, vllm
  llm.model=gpt-4o-mini        model; llm.base_url=URL for any OpenAI-compatible server
  cache.enabled=false          send every call again (default: replay finished calls)
  resume=outputs/DATE/TIME     continue an interrupted run in its own directory
  metrics.port=0               serve Prometheus metrics while the run goes

Examples:
  python -m postgen topic="Zero-downtime database migrations"
  OPENAI_API_KEY=... python -m postgen llm=openai topic="..." parallel=true concurrency=16
  python -m postgen -m stage.score.concurrency=1,4,16 cache.enabled=false   # a sweep

Outputs go to outputs/DATE/TIME/ (hydra.run.dir=DIR to choose): post.md, candidates.jsonl,
cards.jsonl, scores.jsonl, run.json, metrics.prom, postgen.log, timeline.png.

Exit codes: 0 post written (run.json says ok or partial), 1 run failed, 2 bad input or
config (one line on stderr, nothing written), 130 Ctrl-C, 143 SIGTERM.

More: `python -m postgen --cfg job` prints the whole composed config;
`python -m postgen --hydra-help` lists Hydra's own flags; `--version` prints the version.
"""

_MULTIRUN_FLAGS = ("-m", "--multirun")


def quote_free_text(args: Sequence[str]) -> list[str]:
    """`args` with every text setting's value made safe for Hydra's grammar."""
    multirun = any(a in _MULTIRUN_FLAGS for a in args)
    return [_quoted_override(a, multirun) for a in args]


def hydra_quote(value: str) -> str:
    """`value` as a single-quoted Hydra string that reads back verbatim."""
    # In a quoted string only backslashes before a quote (or the closing quote) are escapes,
    # so double those and escape the quote.
    escaped = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", value)
    escaped = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, escaped)
    return f"'{escaped}'"


def _quoted_override(arg: str, multirun: bool) -> str:
    key, sep, value = arg.partition("=")
    if not sep or key.startswith("-") or key not in text_keys() or value in ("", "null"):
        return arg
    if _reads_as_meant(arg, multirun):
        return arg
    if text_keys()[key] == "list":
        return f"{key}={_quoted_list(value)}"
    return f"{key}={hydra_quote(value)}"


def _reads_as_meant(arg: str, multirun: bool) -> bool:
    try:
        override = OverridesParser.create().parse_override(arg)
    except Exception:  # Hydra's grammar errors are several unrelated classes
        return False
    # Outside a sweep, `topic=a, b` is a sentence, not a choice between two topics.
    return multirun or not override.is_sweep_override()


def _quoted_list(value: str) -> str:
    inner = value.strip()
    if not (inner.startswith("[") and inner.endswith("]")):
        return hydra_quote(value)
    items = [item.strip() for item in inner[1:-1].split(",") if item.strip()]
    return "[" + ",".join(hydra_quote(item.strip("'\"")) for item in items) + "]"


@cache
def text_keys() -> dict[str, str]:
    """Every dotted key of the schema that holds text: "str" or "list" (of str)."""
    return dict(_walk(Settings, ""))


def _walk(cls: Any, prefix: str) -> Iterator[tuple[str, str]]:
    for f in dataclasses.fields(cls):
        kind = _text_kind(get_type_hints(cls)[f.name])
        key = f"{prefix}{f.name}"
        if kind:
            yield key, kind
        hint = _unwrap(get_type_hints(cls)[f.name])
        if dataclasses.is_dataclass(hint) and isinstance(hint, type):
            yield from _walk(hint, f"{key}.")


def _text_kind(hint: Any) -> str | None:
    hint = _unwrap(hint)
    if hint is str:
        return "str"
    if get_origin(hint) is list and get_args(hint) == (str,):
        return "list"
    return None


def _unwrap(hint: Any) -> Any:
    """`X | None` -> X."""
    if get_origin(hint) in (Union, types.UnionType):
        rest = [a for a in get_args(hint) if a is not type(None)]
        return rest[0] if len(rest) == 1 else hint
    return hint
