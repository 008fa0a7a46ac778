"""Whole runs against simulator profiles that refuse structured-output forms, and item-level
failures (truncation, context overflow, timeouts) that must not stop a run.

Each run completes, and run.json says which form was used; the simulator counts every
`response_format` form it was sent, so "each refused form was tried once" is a count.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from postgen.cli.outputs import write_run_json
from postgen.engine.session import Endpoint, run_async
from postgen.observe.result import RunResult
from postgen.sim import PROFILES, SimConfig, SimServer
from postgen.sim.formats import Treatment, treatments
from tests.conftest import settings_for

pytestmark = pytest.mark.timeout(120)

X, J, S = Treatment.REJECT, Treatment.JSON, Treatment.SCHEMA
SMALL = ("iterations=2", "votes=1", "top_k=1", "cache.enabled=false", "quiet=true")


@pytest.fixture
def extra_profiles(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Two servers no stock profile models: one that takes only json_object, one that takes no
    response_format at all (both refuse the rest the way llama-cpp-python does: HTTP 500)."""
    base, refuse = PROFILES["sim"], PROFILES["llamacpp"].reject_format
    only_json = treatments(json_object=J, json_object__schema=X, json_schema=X, other=X)
    nothing = treatments(json_object=X, json_object__schema=X, json_schema=X, text=X, other=X)
    for name, formats in (("json_object_only", only_json), ("no_formats", nothing)):
        profile = dataclasses.replace(base, name=name, formats=formats, reject_format=refuse)
        monkeypatch.setitem(PROFILES, name, profile)  # type: ignore[index]
    yield


async def _run(
    tmp_path: Path, config: SimConfig, *overrides: str
) -> tuple[dict[str, Any], dict[str, Any], RunResult]:
    with SimServer(config) as server:
        settings = settings_for(*overrides, f"llm.base_url={server.base_url}")
        result = await run_async(settings, Endpoint(server.base_url, None))
        sim = server.stats()
    write_run_json(result, tmp_path / "run.json", exit_code=0)
    doc: dict[str, Any] = json.loads((tmp_path / "run.json").read_text())
    return doc, sim, result


def _completed(doc: dict[str, Any]) -> None:
    assert doc["status"] == "ok", doc["error"]
    for name, st in doc["stages"].items():
        assert st["failed"] == [] and st["succeeded"] == st["items"], name


@pytest.mark.parametrize(
    ("profile", "form", "refused"),
    [
        ("llamacpp", "json_object+schema", ["json_schema"]),
        ("json_object_only", "json_object", ["json_schema", "json_object+schema"]),
        ("no_formats", "prompt", ["json_schema", "json_object+schema", "json_object"]),
    ],
)
@pytest.mark.usefixtures("extra_profiles")
async def test_a_run_completes_with_the_strongest_form_the_server_takes(
    tmp_path: Path, profile: str, form: str, refused: list[str]
) -> None:
    config = SimConfig(profile=profile, time_scale=0.0, seed=1)
    overrides = ("llm.provider=openai", "llm.model=sim-1", "brief.words=150", *SMALL)
    doc, sim, _ = await _run(tmp_path, config, *overrides)
    _completed(doc)
    negotiated = doc["llm"]["structured_output"]
    assert negotiated["form"] == form and negotiated["settled"]
    assert [r["form"] for r in negotiated["refused"]] == refused
    # Each refused form was sent exactly once (structured calls take turns until one works).
    formats = sim["response_formats"]
    assert {name: formats.get(name) for name in refused} == dict.fromkeys(refused, 1), formats
    assert sim["by_status"].get("500", 0) == len(refused)


async def test_the_llamacpp_preset_discovers_the_model_and_streams(tmp_path: Path) -> None:
    config = SimConfig(profile="llamacpp", time_scale=0.0, seed=1)
    doc, sim, _ = await _run(tmp_path, config, "llm=llamacpp", "brief.words=150", *SMALL)
    _completed(doc)
    path = PROFILES["llamacpp"].model_path
    assert doc["config"]["llm"]["model"] == path  # discovered from /v1/models
    assert set(doc["llm"]["models_answered"]) == {path}
    assert sim["streamed"] == doc["totals"]["requests"]  # every answered request streamed
    assert sim["by_status"]["500"] == 1  # and the refused json_schema probe, once
    assert doc["stages"]["candidates"]["ttft_p50_s"] is not None


async def test_prompted_json_runs_without_any_response_format(tmp_path: Path) -> None:
    doc, sim, _ = await _run(
        tmp_path, SimConfig(time_scale=0.0), "llm.structured_output=prompt", *SMALL
    )
    _completed(doc)
    assert doc["llm"]["structured_output"] == {
        "mode": "prompt",
        "form": "prompt",
        "settled": True,
        "refused": [],
    }
    assert set(sim["response_formats"]) == {"none"}


async def test_truncated_replies_are_counted_and_the_run_goes_on(tmp_path: Path) -> None:
    # Candidates cut at 120 tokens (the simulator writes ~900 words): each is marked truncated.
    overrides = ("stage.candidates.max_tokens=120", *SMALL)
    doc, sim, result = await _run(tmp_path, SimConfig(time_scale=0.0), *overrides)
    assert doc["status"] == "ok"
    assert doc["stages"]["candidates"]["truncated"] == 2
    assert doc["llm"]["truncated"] >= 2
    assert sim["truncated"] >= 2
    lengths = doc["candidates_length"]  # marked, and measured against brief.words
    assert lengths["truncated"] == 2 and lengths["short"] == 2 and lengths["target_words"] == 900
    assert all(c is not None and c.truncated for c in result.candidates)


async def test_a_reply_cut_by_a_full_context_window_says_so_and_is_not_reasked(
    tmp_path: Path,
) -> None:
    # llama-cpp-python (n_ctx 2048 by default) stops a reply when prompt + reply fill the
    # window and says `length`, as at max_tokens. The synthesis (a long prompt, 2400 tokens
    # of room) is cut a few hundred tokens in: more max_tokens cannot help, so no re-ask.
    config = SimConfig(profile="llamacpp", time_scale=0.0, n_ctx=2048)
    overrides = ("llm=llamacpp", "llm.model=sim-1", "iterations=6", "votes=1", "quiet=true")
    doc, _, result = await _run(tmp_path, config, *overrides, "cache.enabled=false")
    synthesize = doc["stages"]["synthesize"]
    assert synthesize["requests"] == 1 and synthesize["reasks"] == 0
    (failure,) = synthesize["failed"]
    assert failure["reason"].startswith("truncated: the reply was cut off after "), failure
    assert "short of its max_tokens=2400" in failure["reason"]
    assert "context window is full" in failure["reason"] and "--n_ctx" in failure["reason"]
    assert result.post is None


async def test_a_context_overflow_fails_its_item_not_the_run(tmp_path: Path) -> None:
    # vLLM refuses prompt + max_tokens over its context (HTTP 400). A candidate request fits
    # (short prompt + 1000); an extraction (a ~1000-token candidate quoted, + 800) does not.
    # Every card fails with the reason, counted; the run is not aborted.
    config = SimConfig(profile="vllm", time_scale=0.0, n_ctx=1800)
    overrides = ("llm=vllm", "stage.candidates.max_tokens=1000", *SMALL)
    doc, _, result = await _run(tmp_path, config, *overrides)
    assert result.error is None  # not a run-level abort
    extract = doc["stages"]["extract"]
    assert extract["items"] == 2 and len(extract["failed"]) == 2
    for failure in extract["failed"]:
        assert failure["reason"].startswith("context_length: the prompt does not fit"), failure
        assert "maximum context length is 1800 tokens" in failure["reason"]
    assert doc["stages"]["candidates"]["succeeded"] == 2


async def test_a_timeout_names_its_value_and_setting_and_the_run_goes_on(tmp_path: Path) -> None:
    # Every request hangs 30 s; the attempt bound is 0.3 s. A timeout is a refusal, retried
    # until the item's deadline (issue 12), so the item gives up at a 1 s deadline, naming
    # its last timeout.
    config = SimConfig(time_scale=0.0, hang_rate=1.0, hang_s=30.0)
    overrides = (
        "stage.candidates.retry.timeout_s=0.3",
        "stage.candidates.retry.attempts=1",
        "scheduler.item_deadline_s=1",
        "synthesis=false",
        *SMALL,
    )
    doc, _, result = await _run(tmp_path, config, *overrides)
    assert result.error is None
    failed = doc["stages"]["candidates"]["failed"]
    assert len(failed) == 2
    for failure in failed:
        assert "within 0.3 s (stage.candidates.retry.timeout_s)" in failure["reason"], failure
