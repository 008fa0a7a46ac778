"""The whole pipeline over real loopback HTTP against the simulated provider."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from postgen.cli.run import execute
from tests.conftest import run_cli, settings_for

TOPIC = "Zero-downtime database migrations"


def _front_matter(post: str) -> tuple[dict[str, object], str]:
    assert post.startswith("---\n")
    _, matter, body = post.split("---\n", 2)
    return yaml.safe_load(matter), body


def _jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_five_candidates_make_one_post(tmp_path: Path) -> None:
    settings = settings_for(
        f"topic={TOPIC}",
        "iterations=5",
        "votes=3",
        "llm.sim.time_scale=0",
        "cache.enabled=false",
        "quiet=true",
    )
    assert execute(settings, tmp_path, console=True) == 0

    candidates = _jsonl(tmp_path / "candidates.jsonl")
    cards = _jsonl(tmp_path / "cards.jsonl")
    scores = _jsonl(tmp_path / "scores.jsonl")
    assert [c["article_id"] for c in candidates] == [1, 2, 3, 4, 5]
    assert [c["article_id"] for c in cards] == [1, 2, 3, 4, 5]
    assert [s["article_id"] for s in scores] == [1, 2, 3, 4, 5]
    for score in scores:
        assert score["votes"] == 3
        for name, crit in score["criteria"].items():  # type: ignore[union-attr]
            assert len(crit["votes"]) == 3, name
            assert 1 <= crit["mean"] <= 10
            assert crit["stdev"] >= 0
            assert len(crit["rationales"]) == 3

    meta, body = _front_matter((tmp_path / "post.md").read_text(encoding="utf-8"))
    assert set(meta) - {"seo_title"} == {
        "title",
        "description",
        "slug",
        "keywords",
        "sources",
        "score",
    }
    assert len(str(meta.get("seo_title", meta["title"]))) <= 70
    assert len(str(meta["slug"])) <= 60
    assert len(str(meta["description"])) <= 160
    assert set(meta["sources"]) <= {1, 2, 3, 4, 5}  # type: ignore[arg-type]
    assert len(meta["sources"]) == 3  # type: ignore[arg-type]
    assert "zero-downtime" in body.lower()

    run = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    assert run["status"] == "ok"
    assert run["stages"]["score"]["requests"] == 15
    assert run["stages"]["candidates"]["succeeded"] == 5
    for key in ("latency_p50_s", "latency_p95_s", "max_concurrency_reached", "input_tokens"):
        assert key in run["stages"]["extract"]
    assert run["config"]["topic"] == TOPIC
    assert (tmp_path / "postgen.log").stat().st_size > 0


def test_brief_reaches_the_post(tmp_path: Path) -> None:
    settings = settings_for(
        "topic=Serverless cost control",
        "brief.call_to_action=Start your free cost audit",
        "iterations=3",
        "top_k=2",
        "votes=1",
        "llm.sim.time_scale=0",
        "cache.enabled=false",
        "quiet=true",
    )
    assert execute(settings, tmp_path) == 0
    post = (tmp_path / "post.md").read_text(encoding="utf-8")
    assert "free cost audit" in post.lower()
    assert "serverless" in post.lower()


def test_synthesis_false_stops_after_candidates(tmp_path: Path) -> None:
    settings = settings_for(
        "synthesis=false", "iterations=2", "llm.sim.time_scale=0", "cache.enabled=false"
    )
    assert execute(settings, tmp_path) == 0
    assert len(_jsonl(tmp_path / "candidates.jsonl")) == 2
    assert (tmp_path / "cards.jsonl").read_text() == ""
    assert not (tmp_path / "post.md").exists()
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["status"] == "ok" and run["stages"]["extract"]["requests"] == 0


def test_cli_quick_start_writes_the_run_dir(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = run_cli(
        "iterations=5", "llm.sim.time_scale=0", f"hydra.run.dir={out}", cwd=tmp_path, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    for name in ("post.md", "candidates.jsonl", "cards.jsonl", "scores.jsonl", "run.json"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "postgen.log").exists()
    assert "status: ok" in proc.stderr
