"""Any text works as typed on the command line, and the brief follows the topic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from postgen.cli.argv import quote_free_text
from tests.conftest import run_cli

FAST = ("iterations=2", "votes=1", "llm.sim.time_scale=0", "cache.enabled=false", "quiet=true")


def _run(tmp_path: Path, *args: str) -> tuple[dict[str, object], dict[str, object]]:
    run_dir = tmp_path / "run"
    proc = run_cli(*FAST, *args, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    front = yaml.safe_load((run_dir / "post.md").read_text(encoding="utf-8").split("---")[1])
    config = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))["config"]
    return front, config


@pytest.mark.parametrize(
    ("topic", "keyword", "slug_part"),
    [
        ("Миграции баз данных без простоя", "миграции баз данных", "migratsii-baz-dannykh"),
        ("零停机数据库迁移", "零停机数据库迁移", "ling-ting-ji"),
    ],
)
def test_a_non_latin_topic_typed_as_is_runs_end_to_end(
    topic: str, keyword: str, slug_part: str, tmp_path: Path
) -> None:
    front, config = _run(tmp_path, f"topic={topic}")
    assert config["topic"] == topic
    assert keyword in front["keywords"]
    assert slug_part in str(front["slug"])  # transliterated, not dropped


def test_the_brief_takes_its_keywords_from_the_topic(tmp_path: Path) -> None:
    front, _ = _run(tmp_path, "topic=Zero-downtime database migrations")
    keywords = [str(k).lower() for k in front["keywords"]]
    assert keywords[0] == "zero-downtime database migrations"
    for demo in ("continuous delivery", "small teams", "deployment"):
        assert demo not in keywords  # the demo's brief does not leak into another topic


def test_given_keywords_win(tmp_path: Path) -> None:
    front, _ = _run(
        tmp_path, "topic=Zero-downtime database migrations", "brief.keywords=[a/b tests]"
    )
    assert front["keywords"][0] == "a/b tests"


def test_quotes_colons_and_commas_in_text_settings(tmp_path: Path) -> None:
    audience = "CTOs, VPs and \"founders\": the 'busy' ones"
    _, config = _run(tmp_path, "topic=Kubernetes: a guide, for once", f"brief.audience={audience}")
    assert config["topic"] == "Kubernetes: a guide, for once"
    assert config["brief"]["audience"] == audience


def test_only_text_settings_are_quoted_and_sweeps_stay_sweeps() -> None:
    assert quote_free_text(["iterations=3", "topic=a, b", "llm.api_key_env=null"]) == [
        "iterations=3",
        "topic='a, b'",
        "llm.api_key_env=null",
    ]
    assert quote_free_text(["-m", "topic=a,b"]) == ["-m", "topic=a,b"]
    assert quote_free_text(["brief.keywords=[миграции, базы]"]) == [
        "brief.keywords=['миграции','базы']"
    ]
