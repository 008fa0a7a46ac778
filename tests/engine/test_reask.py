"""An unusable structured reply is re-asked once, with the validation error."""

from __future__ import annotations

import json

import httpx
import pytest

from postgen.domain import ArticleCard
from postgen.engine.caller import StageCaller, StageParams
from postgen.engine.scheduling import build_governor, retry_policy
from postgen.errors import InvalidOutput
from postgen.llm import ChatClient
from postgen.observe.stats import RunStats
from tests.conftest import settings_for

CARD = {
    "title": "Ship daily",
    "hook": "Small teams can ship every day.",
    "summary": "How to ship daily.",
    "key_points": ["automate", "small batches", "feature flags"],
    "audience": "CTOs",
    "call_to_action": "Book a demo",
}


def _caller(replies: list[str], seen: list[dict[str, object]]) -> tuple[StageCaller, RunStats]:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        text = replies[min(len(seen), len(replies)) - 1]
        body = {"choices": [{"message": {"content": text}}], "usage": {}}
        return httpx.Response(200, json=body)

    settings = settings_for("llm.json_schema=false")
    stats = RunStats()
    governor = build_governor(settings, stats)
    lane = governor.lane("extract", 1, retry_policy(settings.stage.extract.retry))
    client = ChatClient("http://llm.test/v1", transport=httpx.MockTransport(handler))
    params = StageParams("extract", "http://llm.test/v1", "m", 0.0, 100, 0, json_schema=False)
    return StageCaller(params, client.complete, lane, stats["extract"]), stats


async def test_reask_sends_the_error_and_accepts_the_fix() -> None:
    seen: list[dict[str, object]] = []
    caller, stats = _caller(['Sorry, here you go: {"title": ', json.dumps(CARD)], seen)
    card = await caller.structured([{"role": "user", "content": "x"}], ArticleCard, item="1")
    assert card.title == "Ship daily"
    assert len(seen) == 2
    followup = seen[1]["messages"]
    assert followup[-2]["role"] == "assistant"  # type: ignore[index]
    assert "could not be used" in followup[-1]["content"]  # type: ignore[index]
    assert "response_format" not in seen[1]  # json_schema=false: prompted JSON, as documented
    assert stats["extract"].reasks == 1


async def test_second_bad_reply_fails_the_item() -> None:
    seen: list[dict[str, object]] = []
    caller, stats = _caller(["no json", "still no json"], seen)
    with pytest.raises(InvalidOutput):
        await caller.structured([{"role": "user", "content": "x"}], ArticleCard, item="1")
    assert len(seen) == 2 and stats["extract"].reasks == 1


async def test_fenced_reply_counts_a_repair_not_a_reask() -> None:
    seen: list[dict[str, object]] = []
    caller, stats = _caller(["```json\n" + json.dumps(CARD) + "\n```"], seen)
    await caller.structured([{"role": "user", "content": "x"}], ArticleCard, item="1")
    assert (stats["extract"].repairs, stats["extract"].reasks, len(seen)) == (1, 0, 1)
