"""Writing a run's files: post.md, the JSONL files and run.json."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

import yaml
from pydantic import BaseModel

from postgen.domain import Post
from postgen.errors import ConfigError
from postgen.observe.result import RunResult

__all__ = [
    "check_writable",
    "redact",
    "render_post",
    "write_jsonl",
    "write_outputs",
    "write_run_json",
]

_SECRET_NAMES = {"api_key", "apikey", "key", "token", "secret", "password", "authorization"}


def write_outputs(result: RunResult, out_dir: Path, *, exit_code: int | None = None) -> None:
    """Everything a run leaves behind, each file written atomically."""
    write_jsonl(out_dir / "candidates.jsonl", result.candidates)
    write_jsonl(out_dir / "cards.jsonl", result.cards)
    write_jsonl(out_dir / "scores.jsonl", result.scores)
    post = out_dir / "post.md"
    if result.post is not None:
        _atomic_write(post, render_post(result.post))
    else:
        post.unlink(missing_ok=True)  # an earlier run's post must not pass for this one's
    write_run_json(result, out_dir / "run.json", exit_code=exit_code)


def check_writable(out_dir: Path) -> None:
    """Fail before the run, with one line, when its files could not be written at the end."""
    probe = out_dir / ".postgen-write-test"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe.write_text("", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        raise ConfigError("hydra.run.dir", f"cannot write to {out_dir}: {exc.strerror}") from None


def render_post(post: Post) -> str:
    front: dict[str, object] = {"title": post.title}
    if post.seo_title is not None:
        front["seo_title"] = post.seo_title
    front |= {
        "description": post.description,
        "slug": post.slug,
        "keywords": post.keywords,
        "sources": post.sources,
        "score": post.score,
    }
    matter = yaml.safe_dump(front, sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{matter}---\n\n# {post.title}\n\n{post.body_markdown.strip()}\n"


def write_jsonl(path: Path, items: Iterable[BaseModel | None]) -> None:
    # Line by line: a run of thousands of items never holds the whole file in memory.
    with _atomic_open(path) as out:
        for item in items:
            if item is not None:
                out.write(item.model_dump_json() + "\n")


def write_run_json(result: RunResult, path: Path, *, exit_code: int | None = None) -> None:
    doc: dict[str, Any] = {
        "status": result.status,
        "exit_code": exit_code,
        "wall_seconds": round(result.wall_seconds, 3),
        "error": result.error,
        "stopped": result.stopped,
        "notes": result.notes,
        "stages": {name: st.as_dict() for name, st in result.stats.stages.items()},
        "totals": {
            "requests": result.stats.total_requests(),
            "replayed": result.stats.total_replayed(),
            "tokens": result.stats.total_tokens(),
        },
        "config": redact(asdict(result.settings)),
    }
    _atomic_write(path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def redact(value: Any) -> Any:
    """The config without anything that looks like a secret value (names of env vars stay)."""
    if isinstance(value, dict):
        return {k: _redact_entry(str(k), v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _redact_entry(key: str, value: Any) -> Any:
    lowered = key.lower()
    if lowered in _SECRET_NAMES or lowered.endswith(("_api_key", "_secret", "_password")):
        return "***" if value else value
    return redact(value)


def _atomic_write(path: Path, text: str) -> None:
    with _atomic_open(path) as out:
        out.write(text)


@contextmanager
def _atomic_open(path: Path) -> Iterator[TextIO]:
    # Write-then-rename: a reader (or a crash) never sees half a file.
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as out:
        yield out
    os.replace(tmp, path)
