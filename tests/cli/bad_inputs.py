"""The bad-input fuzz table: overrides a careless user or a hostile script might pass.

Each case is the argv after `python -m postgen` and the config key its one line must name.
`{work}` is the directory the case starts in (see `prepare`); every case must exit 2 with
exactly one line on stderr that names the key, no traceback, and write nothing.
Kept as data so that a new bad input is one line here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# The environment variable the cases take the API key from, and its (sentinel) value.
KEY_ENV = "PG_FUZZ_KEY"
KEY = "pgfuzzsentinel-7c6b5a4f3e2d"


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    key: str

    @property
    def id(self) -> str:
        return " ".join(self.args)[:80]


def _each(key: str, *values: str) -> list[Case]:
    return [Case((f"{key}={v}",), key) for v in values]


_INTEGERS = {
    "iterations": ("abc", "1.5", "0", "-1", "true", "10000000", "[1,2]", "{a: 1}", "null"),
    "votes": ("x", "0", "-2", "2.5"),
    "top_k": ("x", "0", "99"),
    "concurrency": ("lots", "0", "-3", "1e9", "null"),
    "seed": ("abc", "1.5", "[1]"),
    "brief.words": ("many", "0", "-100", "null"),
    "stage.candidates.concurrency": ("0", "x"),
    "stage.extract.max_tokens": ("0", "-5", "x"),
    "stage.score.retry.attempts": ("0", "x"),
    "metrics.port": ("-1", "70000", "http", "1.5"),
    "budget.max_requests": ("0", "-1", "x"),
    "budget.max_tokens": ("-1", "x"),
    "llm.max_reply_bytes": ("10", "x"),
}
_FLOATS = {
    "stage.candidates.temperature": ("hot", "-1", "5"),
    "stage.score.retry.initial_backoff_s": ("-1", "x"),
    "stage.synthesize.retry.timeout_s": ("0", "-3", "slow"),
    "stage.extract.retry.deadline_s": ("-1", "x"),
    "metrics.linger_s": ("-1", "x"),
    "llm.connect_timeout_s": ("0", "-1", "x"),
    "llm.stall_s": ("0", "x"),
    "llm.queue_timeout_s": ("-1",),
}
_BOOLEANS = {
    "parallel": ("2", "maybe", "[true]"),
    "synthesis": ("2", "yes please"),
    "quiet": ("3",),
    "cache.enabled": ("2", "sometimes"),
    "llm.json_schema": ("3",),
    "llm.stream": ("2",),
    "llm.api_key_required": ("maybe",),
}
_GROUPS = {
    "criteria": ("1", "null", "[a,b]", "nonexistent", "true"),
    "llm": ("1", "nonexistent", "[1]"),
    "scheduler": ("true", "nope", "2"),
}
_STRINGS = {
    "topic": ("", "'   '"),
    "brief.audience": ("",),
    "log_level": ("LOUD", "1"),
    "llm.model": ("",),
    "llm.api_key_env": ("", "PG_FUZZ_UNSET"),
    "scheduler.kind": ("turbo",),
    "llm.structured_output": ("grammar", "json"),
    "llm.base_url": (
        "http://127.0.0.1:99999/v1",
        "http://127.0.0.1:-1/v1",
        "http://127.0.0.1:port/v1",
        "ftp://127.0.0.1/v1",
        "notaurl",
        "http://user:pw@127.0.0.1/v1",
        "http:///v1",
    ),
    "metrics.addr": ("999.1.1.1", "not an address", ""),
    "metrics.pushgateway": ("notaurl", "http://127.0.0.1:99999"),
}

CASES: list[Case] = [
    *(c for key, values in _INTEGERS.items() for c in _each(key, *values)),
    *(c for key, values in _FLOATS.items() for c in _each(key, *values)),
    *(c for key, values in _BOOLEANS.items() for c in _each(key, *values)),
    *(c for key, values in _GROUPS.items() for c in _each(key, *values)),
    *(c for key, values in _STRINGS.items() for c in _each(key, *values)),
    # Keys postgen does not have.
    Case(("foo=1",), "foo"),
    Case(("+foo=1",), "foo"),
    Case(("brief.nope=1",), "brief.nope"),
    Case(("stage.nope.concurrency=1",), "stage.nope"),
    Case(("+llm.api_key=secret123",), "llm.api_key"),
    # Topic files: empty, missing, not regular, endless, too big, not UTF-8.
    Case(("topic_file=",), "topic_file"),
    Case(("topic_file={work}/empty.txt",), "topic_file"),
    Case(("topic_file={work}/nope.txt",), "topic_file"),
    Case(("topic_file={work}/a_dir",), "topic_file"),
    Case(("topic_file=/dev/zero",), "topic_file"),
    Case(("topic_file={work}/fifo",), "topic_file"),
    Case(("topic_file={work}/huge.txt",), "topic_file"),
    Case(("topic_file={work}/latin1.txt",), "topic_file"),
    # Where the run writes.
    Case(("hydra.run.dir=",), "hydra.run.dir"),
    Case(("hydra.run.dir={work}/a_file/run",), "hydra.run.dir"),
    Case(("hydra.run.dir={work}/earlier",), "hydra.run.dir"),
    Case(("cache.path={work}/a_dir",), "cache.path"),
    Case(("cache.path={work}/a_file/calls.sqlite",), "cache.path"),
    Case(("cache.path=",), "cache.path"),
    Case(("resume={work}/gone",), "resume"),
    Case(("resume={work}/a_dir",), "resume"),
    # Config files: a criteria YAML with a syntax error, one with no criteria, a zero weight.
    Case(("--config-dir", "{work}/conf", "criteria=broken"), "criteria"),
    Case(("--config-dir", "{work}/conf", "criteria=empty"), "criteria"),
    Case(("criteria.hook_strength.weight=0",), "criteria.hook_strength.weight"),
    Case(("criteria.audience_fit.weight=-0.5",), "criteria.audience_fit.weight"),
    Case(("criteria.audience_fit.weight=heavy",), "criteria.audience_fit.weight"),
    # The API key brought into a prompt through the environment.
    Case((f"topic=${{oc.env:{KEY_ENV}}}",), "topic"),
    Case((f"brief.tone=${{oc.env:{KEY_ENV}}}",), "brief.tone"),
    Case((f"brief.call_to_action=Use ${{oc.env:{KEY_ENV}}} now",), "brief.call_to_action"),
    # Interpolations that cannot resolve.
    Case(("topic=${nope}",), "topic"),
    Case(("iterations=${oc.env:PG_FUZZ_UNSET}",), "iterations"),
    # Override syntax.
    Case(("iterations=[1",), "iterations"),
    Case(("top_k=${min:3",), "top_k"),
    # Combinations that are fine alone.
    Case(("iterations=3", "top_k=4"), "top_k"),
]


def prepare(work: Path) -> None:
    """The files and directories some cases point at."""
    (work / "empty.txt").write_text("  \n")
    (work / "latin1.txt").write_bytes("Caf\xe9 marketing".encode("latin-1"))
    with (work / "huge.txt").open("wb") as huge:  # sparse: costs no disk
        huge.truncate(50 * 1024 * 1024)
    os.mkfifo(work / "fifo")
    (work / "a_dir").mkdir()
    (work / "a_file").write_text("not a directory")
    criteria = work / "conf" / "criteria"
    criteria.mkdir(parents=True)
    (criteria / "empty.yaml").write_text("")
    (criteria / "broken.yaml").write_text("hook_strength:\n  weight: [1\n  description: x\n")
    earlier = work / "earlier"
    (earlier / ".hydra").mkdir(parents=True)
    (earlier / ".hydra" / "config.yaml").write_text("topic: earlier\n")
    (earlier / "run.json").write_text('{"status": "ok"}\n')
    (earlier / "post.md").write_text("# An earlier post\n")


def snapshot(work: Path) -> dict[str, bytes | None]:
    """Every path under `work` with the bytes of each small regular file (to see a write)."""
    seen: dict[str, bytes | None] = {}
    for path in sorted(work.rglob("*")):
        rel = str(path.relative_to(work))
        if path.is_file() and not path.is_symlink() and path.stat().st_size < 1 << 20:
            seen[rel] = path.read_bytes()
        else:
            seen[rel] = None
    return seen
