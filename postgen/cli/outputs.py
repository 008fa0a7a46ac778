"""Writing a run's files: post.md, the JSONL files and run.json.

Every file is written atomically (a hidden `.NAME.tmp`, then a rename) and the temporary file
is removed when the write fails, so a full disk leaves no `.tmp` behind. Every string that
goes into a file passes through the run's `Redactor` first (`redact=`), so a key that a server
echoed, or that came in through a config value, cannot reach the outputs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

import yaml
from pydantic import BaseModel

from postgen.domain import Post
from postgen.errors import ConfigError, PostgenError
from postgen.observe.result import RunResult
from postgen.observe.stats import candidate_lengths

__all__ = [
    "OutputsNotWritten",
    "check_writable",
    "redact",
    "redact_config",
    "render_post",
    "write_jsonl",
    "write_outputs",
    "write_run_json",
]

_SECRET_NAMES = {"api_key", "apikey", "key", "token", "secret", "password", "authorization"}


# Redacts a JSON-like tree of strings (`postgen.logs.Redactor.value`); the identity if None.
Redact = Callable[[Any], Any]


class OutputsNotWritten(PostgenError):
    """Some of a run's files could not be written; the message is one line for the user."""

    def __init__(self, path: Path, error: OSError, *, run_json_written: bool) -> None:
        self.path, self.error, self.run_json_written = path, error, run_json_written
        tail = "run.json was written" if run_json_written else "run.json could not be written"
        super().__init__(f"cannot write {path}: {_why(error)}; {tail}")


def write_outputs(
    result: RunResult, out_dir: Path, *, exit_code: int | None = None, redact: Redact | None = None
) -> None:
    """Everything a run leaves behind, each file written atomically.

    A file that cannot be written does not stop the others: run.json is tried last in any
    case, and `OutputsNotWritten` then names the first failure and whether run.json made it.
    """
    post = out_dir / "post.md"
    steps: list[tuple[Path, Callable[[], None]]] = [
        *(
            (out_dir / name, _jsonl_step(out_dir / name, items, redact))
            for name, items in (
                ("candidates.jsonl", result.candidates),
                ("cards.jsonl", result.cards),
                ("scores.jsonl", result.scores),
            )
        ),
        (post, lambda: _write_post(result, post, redact)),
    ]
    failed: tuple[Path, OSError] | None = None
    for path, step in steps:
        try:
            step()
        except OSError as exc:
            failed = failed or (path, exc)
    if failed is not None and exit_code == 0:
        exit_code = 1  # what run.json says is what the process exits with (`OutputsNotWritten`)
    try:
        write_run_json(result, out_dir / "run.json", exit_code=exit_code, redact=redact)
    except OSError as exc:
        first = failed or (out_dir / "run.json", exc)
        raise OutputsNotWritten(*first, run_json_written=False) from None
    if failed is not None:
        raise OutputsNotWritten(*failed, run_json_written=True)


def _jsonl_step(
    path: Path, items: Iterable[BaseModel | None], redact: Redact | None
) -> Callable[[], None]:
    return lambda: write_jsonl(path, items, redact=redact)


def _write_post(result: RunResult, path: Path, redact: Redact | None) -> None:
    if result.post is not None:
        text = render_post(result.post)
        _atomic_write(path, redact(text) if redact else text)
    else:
        path.unlink(missing_ok=True)  # an earlier run's post must not pass for this one's


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


def write_jsonl(
    path: Path, items: Iterable[BaseModel | None], *, redact: Redact | None = None
) -> None:
    # Line by line: a run of thousands of items never holds the whole file in memory.
    with _atomic_open(path) as out:
        for item in items:
            if item is None:
                continue
            if redact is None:
                out.write(item.model_dump_json() + "\n")
            else:  # redact the values, not the JSON text: an escape is never cut in half
                doc = redact(item.model_dump(mode="json"))
                out.write(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n")


def write_run_json(
    result: RunResult, path: Path, *, exit_code: int | None = None, redact: Redact | None = None
) -> None:
    doc: dict[str, Any] = {
        "status": result.status,
        "exit_code": exit_code,
        "wall_seconds": round(result.wall_seconds, 3),
        "error": result.error,
        "stopped": result.stopped,
        "notes": result.notes,
        "stages": {name: st.as_dict() for name, st in result.stats.stages.items()},
        "llm": result.stats.llm_record(),
        "candidates_length": candidate_lengths(
            [c.words for c in result.candidates if c is not None],
            sum(1 for c in result.candidates if c is not None and c.truncated),
            result.settings.brief.words,
        ),
        "totals": {
            "requests": result.stats.total_requests(),
            "replayed": result.stats.total_replayed(),
            "tokens": result.stats.total_tokens(),
        },
        "config": redact_config(asdict(result.settings)),
    }
    if redact is not None:
        doc = redact(doc)
    _atomic_write(path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def redact_config(value: Any) -> Any:
    """The config without anything that looks like a secret value (names of env vars stay)."""
    if isinstance(value, dict):
        return {k: _redact_entry(str(k), v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_config(v) for v in value]
    return value


redact = redact_config  # the public name of old


def _redact_entry(key: str, value: Any) -> Any:
    lowered = key.lower()
    if lowered in _SECRET_NAMES or lowered.endswith(("_api_key", "_secret", "_password")):
        return "***" if value else value
    return redact_config(value)


def _atomic_write(path: Path, text: str) -> None:
    with _atomic_open(path) as out:
        out.write(text)


@contextmanager
def _atomic_open(path: Path) -> Iterator[TextIO]:
    # Write-then-rename: a reader (or a crash) never sees half a file.
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as out:
            yield out
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk leaves no half-written .tmp behind
        raise


def _why(exc: OSError) -> str:
    return f"[Errno {exc.errno}] {exc.strerror}" if exc.errno else str(exc)
