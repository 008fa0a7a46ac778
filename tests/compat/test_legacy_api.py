"""postgen.legacy: the seed's functions, in input order, from plain Python and from a loop."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from postgen.compat import legacy
from postgen.compat.legacy import (
    SCORING_CRITERIA,
    ArticleCandidate,
    ArticleCard,
    average_score_votes,
    extract_all_article_cards,
    extract_all_article_cards_parallel,
    last_errors,
    score_all_cards_with_voting,
    score_all_cards_with_voting_parallel,
)
from postgen.compat.run import current_settings
from tests.conftest import CONF

IDS = [7, 3, 9, 1, 5]  # not sorted: the order must be the input's, not completion's


def _candidates(ids: list[int]) -> list[ArticleCandidate]:
    return [
        ArticleCandidate(
            article_id=i,
            content=f"# Shipping daily, part {i}\n\n"
            + "Small teams that deploy every day find problems while they are small. " * 4,
        )
        for i in ids
    ]


@pytest.fixture
def instant() -> Iterator[None]:
    legacy.configure(["llm.sim.time_scale=0"])
    yield
    legacy.configure()


@pytest.fixture(scope="module")
def cards() -> Iterator[list[ArticleCard]]:
    legacy.configure(["llm.sim.time_scale=0"])
    yield extract_all_article_cards_parallel(_candidates(IDS))
    legacy.configure()


def test_scoring_criteria_is_the_packaged_rubric() -> None:
    assert set(SCORING_CRITERIA) == set(current_settings().criteria)
    for spec in SCORING_CRITERIA.values():
        assert spec["weight"] > 0 and spec["description"] and spec["levels"]
    assert (CONF / "criteria" / "marketing.yaml").is_file()


def test_extract_keeps_input_order(instant: None, cards: list[ArticleCard]) -> None:
    assert [c.article_id for c in extract_all_article_cards(_candidates(IDS))] == IDS
    assert [c.article_id for c in cards] == IDS
    assert last_errors() == []


def test_score_keeps_input_order(instant: None, cards: list[ArticleCard]) -> None:
    seq = score_all_cards_with_voting(cards, SCORING_CRITERIA, votes=2)
    par = score_all_cards_with_voting_parallel(cards, max_concurrent=4, votes=2)
    assert [s.article_id for s in seq] == IDS == [s.article_id for s in par]
    for score in par:
        assert score.votes == 2 and set(score.criteria) == set(SCORING_CRITERIA)
        assert 1 <= score.overall_score <= 10


async def test_works_inside_a_running_event_loop(instant: None, cards: list[ArticleCard]) -> None:
    asyncio.get_running_loop()  # as in a notebook cell
    extracted = extract_all_article_cards(_candidates(IDS[:3]))
    scores = score_all_cards_with_voting_parallel(cards[:3], max_concurrent=3, votes=1)
    assert [c.article_id for c in extracted] == IDS[:3]
    assert [s.article_id for s in scores] == IDS[:3]


def test_seed_style_objects_and_custom_criteria(instant: None, cards: list[ArticleCard]) -> None:
    @dataclass
    class SeedCandidate:  # the seed's own dataclass: no angle, no model
        article_id: int
        content: str

    seed = [SeedCandidate(c.article_id, c.content) for c in _candidates([2, 1])]
    assert [c.article_id for c in extract_all_article_cards(seed)] == [2, 1]
    criteria = {
        "originality": {"weight": 2, "description": "Is it fresh?"},
        "audience_fit": {"weight": 1, "description": "Is it for the reader?"},
    }
    (score,) = score_all_cards_with_voting(cards[:1], criteria, votes=1)
    assert set(score.criteria) == set(criteria)


def test_failed_items_are_skipped_but_reported() -> None:
    legacy.configure(["llm.sim.time_scale=0", "llm.sim.malformed_rate=1.0"])
    try:
        cards = extract_all_article_cards_parallel(_candidates(IDS), max_concurrent=3)
    finally:
        legacy.configure()
    assert cards == []
    errors = last_errors()
    assert [e.item_id for e in errors] == IDS
    assert all(e.stage == "extract" and e.error for e in errors)


def test_parallel_keeps_several_requests_in_flight(monkeypatch: pytest.MonkeyPatch) -> None:
    # Parallelism is asserted by what the scheduler did (requests in flight at once), not by
    # wall-clock time, which a busy machine distorts. Speed is measured in benchmarks/.
    peaks: dict[str, list[int]] = {"extract": [], "score": []}
    real_run_stage = legacy.run_stage

    def spy(stage: str, *args: Any, **kwargs: Any) -> Any:
        run = real_run_stage(stage, *args, **kwargs)
        peaks[stage].append(run.stats.max_concurrency_reached)
        return run

    monkeypatch.setattr(legacy, "run_stage", spy)
    legacy.configure(["llm.sim.time_scale=0.03"])
    try:
        candidates = _candidates(list(range(1, 9)))
        seq_cards = extract_all_article_cards(candidates)
        par_cards = extract_all_article_cards_parallel(candidates, max_concurrent=8)
        seq_scores = score_all_cards_with_voting(seq_cards[:6], SCORING_CRITERIA, votes=2)
        par_scores = score_all_cards_with_voting_parallel(par_cards[:6], max_concurrent=12, votes=2)
    finally:
        legacy.configure()
    assert len(seq_cards) == len(par_cards) == 8 and len(seq_scores) == len(par_scores) == 6
    assert peaks["extract"][0] == 1 and peaks["score"][0] == 1  # sequential: one at a time
    assert peaks["extract"][1] >= 3 and peaks["score"][1] >= 3, peaks


def test_average_score_votes_pools_the_votes(instant: None, cards: list[ArticleCard]) -> None:
    a, b = (score_all_cards_with_voting(cards[:1], SCORING_CRITERIA, votes=2) for _ in range(2))
    pooled = average_score_votes([a[0], b[0]])
    assert pooled.article_id == IDS[0] and pooled.votes == 4
    assert pooled.overall_score == pytest.approx(
        (a[0].overall_score + b[0].overall_score) / 2, abs=0.01
    )
    assert average_score_votes([a[0]]).overall_score == pytest.approx(a[0].overall_score, abs=0.001)
    other = score_all_cards_with_voting(cards[1:2], SCORING_CRITERIA, votes=1)
    with pytest.raises(ValueError, match="different articles"):
        average_score_votes([a[0], other[0]])


def test_overrides_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTGEN_OVERRIDES", "votes=4 'brief.audience=CFOs at banks'")
    legacy.configure()
    try:
        settings = current_settings()
        assert settings.votes == 4 and settings.brief.audience == "CFOs at banks"
        assert settings.llm.provider == "sim"
    finally:
        monkeypatch.delenv("POSTGEN_OVERRIDES")
        legacy.configure()


def test_configure_inside_a_hydra_app_leaves_its_config_alone() -> None:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from postgen.cli.compose import register_schema

    register_schema()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        assert legacy.configure(["votes=7"]).votes == 7
        assert GlobalHydra.instance().is_initialized()
        assert compose(config_name="config", overrides=["votes=2"]).votes == 2
    legacy.configure()
