"""The real conf/: every group composes, every documented override applies, bad input is refused."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from postgen.config import STAGES, Settings, checked, packaged_criteria
from postgen.errors import ConfigError
from tests.conftest import CONF, compose_config, run_cli, settings_for


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def test_defaults_compose_into_typed_settings() -> None:
    s = settings_for()
    assert isinstance(s, Settings)
    assert s.llm.provider == "sim" and s.scheduler.kind == "adaptive"
    assert s.parallel is False  # the seed's default: sequential
    assert set(s.criteria) >= {
        "hook_strength",
        "audience_fit",
        "clarity_structure",
        "originality",
        "cta_clarity",
        "claim_verifiability",
    }
    for name in STAGES:
        assert s.stage.get(name).concurrency == s.concurrency


@pytest.mark.parametrize("group", ["llm", "scheduler", "criteria"])
def test_every_option_of_every_group_composes(group: str) -> None:
    options = _options(group)
    assert len(options) >= 2
    for option in options:
        s = settings_for(f"{group}={option}")
        assert s is not None


def test_llm_group_has_the_five_providers() -> None:
    assert set(_options("llm")) == {"sim", "openai", "ollama", "vllm", "llamacpp"}
    assert settings_for("llm=openai").llm.api_key_env == "OPENAI_API_KEY"


def test_every_criterion_has_weight_description_and_levels() -> None:
    for option in _options("criteria"):
        for name, c in settings_for(f"criteria={option}").criteria.items():
            assert c.weight > 0 and c.description, name
            assert c.levels, name


DOCUMENTED_OVERRIDES = {
    "topic=Edge caching": lambda s: s.topic == "Edge caching",
    "brief.audience=CFOs": lambda s: s.brief.audience == "CFOs",
    "brief.tone=playful": lambda s: s.brief.tone == "playful",
    "brief.keywords=[cdn,latency]": lambda s: s.brief.keywords == ["cdn", "latency"],
    "brief.words=600": lambda s: s.brief.words == 600,
    "brief.call_to_action=Start a trial": lambda s: s.brief.call_to_action == "Start a trial",
    "iterations=12": lambda s: s.iterations == 12,
    "votes=5": lambda s: s.votes == 5,
    "top_k=2": lambda s: s.top_k == 2,
    "synthesis=false": lambda s: s.synthesis is False,
    "parallel=true": lambda s: s.parallel is True,
    "concurrency=9": lambda s: all(s.stage.get(n).concurrency == 9 for n in STAGES),
    "stage.score.concurrency=10": lambda s: s.stage.score.concurrency == 10,
    "stage.extract.retry.attempts=2": lambda s: s.stage.extract.retry.attempts == 2,
    "stage.candidates.retry.initial_backoff_s=0.1": lambda s: (
        s.stage.candidates.retry.initial_backoff_s == 0.1
    ),
    "stage.score.retry.max_backoff_s=5": lambda s: s.stage.score.retry.max_backoff_s == 5,
    "stage.synthesize.retry.timeout_s=30": lambda s: s.stage.synthesize.retry.timeout_s == 30,
    "stage.score.temperature=0.2": lambda s: s.stage.score.temperature == 0.2,
    "stage.extract.max_tokens=500": lambda s: s.stage.extract.max_tokens == 500,
    "stage.score.model=sim-large": lambda s: s.stage_model("score") == "sim-large",
    "llm.model=sim-large": lambda s: s.stage_model("extract") == "sim-large",
    "llm.base_url=http://127.0.0.1:9/v1": lambda s: s.llm.base_url == "http://127.0.0.1:9/v1",
    "llm.sim.rpm=600": lambda s: s.llm.sim.rpm == 600,
    "llm.sim.time_scale=0": lambda s: s.llm.sim.time_scale == 0,
    "scheduler=fixed": lambda s: s.scheduler.kind == "fixed",
    "scheduler.maximum=64": lambda s: s.scheduler.maximum == 64,
    "criteria=seo": lambda s: "search_intent" in s.criteria,
    "metrics.port=0": lambda s: s.metrics.port == 0,
    "metrics.addr=0.0.0.0": lambda s: s.metrics.addr == "0.0.0.0",
    "metrics.pushgateway=http://127.0.0.1:9091": lambda s: s.metrics.pushgateway is not None,
    "cache.enabled=false": lambda s: s.cache.enabled is False,
    "cache.path=/tmp/x.sqlite": lambda s: s.cache.path == "/tmp/x.sqlite",
    "seed=7": lambda s: s.seed == 7,
    "quiet=true": lambda s: s.quiet is True,
    "budget.max_requests=50": lambda s: s.budget.max_requests == 50,
}


@pytest.mark.parametrize("override", sorted(DOCUMENTED_OVERRIDES))
def test_documented_override_applies(override: str) -> None:
    extra = ("iterations=5",) if override.startswith("top_k") else ()
    assert DOCUMENTED_OVERRIDES[override](settings_for(override, *extra))


def test_stage_override_beats_global_concurrency() -> None:
    s = settings_for("concurrency=3", "stage.score.concurrency=10", "parallel=true")
    assert s.stage_concurrency("score") == 10
    assert s.stage_concurrency("extract") == 3


def test_sequential_run_uses_one_slot_per_stage() -> None:
    s = settings_for("concurrency=8")
    assert all(s.stage_concurrency(n) == 1 for n in STAGES)


def test_topic_file_wins_over_topic(tmp_path: Path) -> None:
    f = tmp_path / "topic.txt"
    f.write_text("Zero-downtime database migrations\n", encoding="utf-8")
    assert settings_for("topic=ignored", f"topic_file={f}").topic.startswith("Zero-downtime")


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("iterations=0", "iterations"),
        ("votes=0", "votes"),
        ("concurrency=0", "concurrency"),
        ("stage.score.concurrency=-2", "stage.score.concurrency"),
        ("top_k=9", "top_k"),
        ("criteria.hook_strength.weight=0", "criteria.hook_strength.weight"),
        ("scheduler.kind=magic", "scheduler.kind"),
        ("llm.sim.error_rate=2", "llm.sim.error_rate"),
        ("topic_file=/nonexistent/topic.txt", "topic_file"),
        ("scheduler.brake_backoff=1.5", "scheduler.brake_backoff"),
        ("scheduler.brake_tolerance=0.5", "scheduler.brake_tolerance"),
        ("scheduler.gate_jitter=-1", "scheduler.gate_jitter"),
        ("scheduler.pace_burst_s=-1", "scheduler.pace_burst_s"),
        ("llm.connect_timeout_s=0", "llm.connect_timeout_s"),
        ("metrics.linger_s=-1", "metrics.linger_s"),
        ("llm.base_url=https://user:pw@proxy.test/v1", "llm.base_url"),
        ("metrics.pushgateway=http://u:p@gw.test:9091", "metrics.pushgateway"),
    ],
)
def test_range_errors_name_the_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings_for(override)
    assert info.value.key == key


def test_composition_rejects_unknown_keys_and_types() -> None:
    with pytest.raises(Exception, match="nosuchkey"):
        compose_config("nosuchkey=1")
    with pytest.raises(Exception, match="concurrency"):
        compose_config("stage.score.concurrency=abc")


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["iterations=0"], "iterations"),
        (["stage.score.concurrency=abc"], "stage.score.concurrency"),
        (["llm=nope"], "llm"),
        (["topic_file=missing.txt"], "topic_file"),
        (["nosuchkey=1"], "nosuchkey"),
        (["concurrency=-1"], "concurrency"),
        (["iterations=3", "top_k=5"], "top_k"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(args: list[str], named: str, tmp_path: Path) -> None:
    proc = run_cli(*args, f"hydra.run.dir={tmp_path}/run", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert named in lines[0]
    assert "Traceback" not in proc.stderr


def test_typed_defaults_are_the_composed_defaults() -> None:
    # One source of defaults: the dataclasses. conf/ adds only group choices and interpolations,
    # so `Settings()` in Python and a bare `python -m postgen` run the same config.
    composed = OmegaConf.to_container(compose_config(), resolve=True)
    assert dataclasses.asdict(Settings()) == composed


def test_settings_built_directly_are_valid() -> None:
    settings = checked(Settings(topic="Zero-downtime database migrations"))
    assert set(settings.criteria) == set(packaged_criteria("marketing"))


def test_a_criteria_option_replaces_the_default_rubric() -> None:
    seo = settings_for("criteria=seo").criteria
    assert set(seo) == set(packaged_criteria("seo"))
