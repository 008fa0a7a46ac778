"""postgen writes a post against a real llama.cpp server running SmolLM2-135M-Instruct.

Small on purpose (it runs in CI on 2 cores): 3 candidates, 1 vote each, the short `seo`
rubric, reduced max_tokens. Everything is asserted by counting: at postgen (run.json) and at
the server (its access log), never by the clock; `benchmarks/real_model.py` times it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli
from tests.real_model.server import LlamaServer

pytestmark = [pytest.mark.real_model, pytest.mark.timeout(900)]

ITEMS = 3
VOTES = 1
WORKLOAD = (
    "llm=llamacpp",
    f"iterations={ITEMS}",
    f"votes={VOTES}",
    "criteria=seo",
    "brief.words=120",
    "stage.candidates.max_tokens=160",
    "stage.extract.max_tokens=320",
    "stage.score.max_tokens=256",
    "stage.synthesize.max_tokens=384",
    "quiet=true",
)
RUN_TIMEOUT_S = 800.0  # a hang guard; a run takes one to three minutes on a busy 2-core box


def _postgen(server: LlamaServer, out: Path, *extra: str) -> dict[str, Any]:
    done = run_cli(
        *WORKLOAD,
        f"llm.base_url={server.base_url}",
        f"hydra.run.dir={out}",
        *extra,
        cwd=out.parent,
        timeout=RUN_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    doc: dict[str, Any] = json.loads((out / "run.json").read_text())
    return doc


def _posts_seen(server: LlamaServer) -> int:
    """Chat requests the server answered, from its own access log."""
    return server.log.read_text(errors="replace").count('"POST /v1/chat/completions HTTP/1.1"')


def _needed(stage: str, st: dict[str, Any]) -> int:
    """Requests the stage had to send: one per item (per vote), plus each re-ask."""
    per_item = VOTES if stage == "score" else 1
    return int(st["items"]) * per_item + int(st["reasks"])


def _assert_wrote_a_post(doc: dict[str, Any], out: Path) -> None:
    assert doc["status"] == "ok", doc
    for name, st in doc["stages"].items():
        assert st["failed"] == [], (name, st["failed"])
        assert st["succeeded"] == st["items"] == (1 if name == "synthesize" else ITEMS), name
    post = (out / "post.md").read_text()
    head, _, body = post.removeprefix("---\n").partition("\n---\n")
    assert post.startswith("---\n") and "title:" in head and "slug:" in head, post[:400]
    assert body.strip(), "the post has no body"


def _assert_sent_once(doc: dict[str, Any]) -> None:
    """No retries, no timeouts: every request sent was needed, none twice."""
    for name, st in doc["stages"].items():
        assert st["retries"] == 0, (name, st)
        assert st["rate_limited"] == 0, (name, st)
        assert st["requests"] == _needed(name, st), (name, st)


def test_sequential_run_writes_a_post_and_replays_without_probing(
    real_server: LlamaServer, tmp_path: Path
) -> None:
    store = tmp_path / "calls.sqlite"
    before = _posts_seen(real_server)
    doc = _postgen(real_server, tmp_path / "run", f"cache.path={store}")
    _assert_wrote_a_post(doc, tmp_path / "run")
    _assert_sent_once(doc)

    negotiated = doc["llm"]["structured_output"]
    assert negotiated["form"] == "json_object+schema" and negotiated["settled"]
    assert [r["form"] for r in negotiated["refused"]] == ["json_schema"]
    assert "Input should be 'text' or 'json_object'" in negotiated["refused"][0]["reason"]
    # The id that answered is the server's (its model path), discovered from /v1/models.
    assert doc["llm"]["models_answered"] == {str(real_server.model_path): doc["totals"]["requests"]}
    # At the server: every request postgen counted, plus the one refused json_schema probe.
    assert _posts_seen(real_server) - before == doc["totals"]["requests"] + 1
    assert doc["stages"]["candidates"]["ttft_p50_s"] is not None  # streamed

    before = _posts_seen(real_server)
    again = _postgen(real_server, tmp_path / "replay", f"cache.path={store}")
    _assert_wrote_a_post(again, tmp_path / "replay")
    assert _posts_seen(real_server) == before  # all replayed: nothing sent, not even a probe
    replayed = again["llm"]["structured_output"]
    assert replayed["form"] == "json_object+schema" and replayed["refused"] == []
    assert (tmp_path / "replay" / "post.md").read_text() == (
        tmp_path / "run" / "post.md"
    ).read_text()


def test_parallel_run_on_a_one_slot_server_sends_each_request_once(
    real_server: LlamaServer, tmp_path: Path
) -> None:
    before = _posts_seen(real_server)
    doc = _postgen(real_server, tmp_path / "run", "parallel=true", "cache.enabled=false")
    _assert_wrote_a_post(doc, tmp_path / "run")
    _assert_sent_once(doc)
    assert _posts_seen(real_server) - before == doc["totals"]["requests"] + 1
    for name, st in doc["stages"].items():  # streaming: one stage never holds more than its items
        assert 1 <= st["max_concurrency_reached"] <= min(ITEMS * VOTES, 5), (name, st)
