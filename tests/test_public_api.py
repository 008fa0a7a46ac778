"""The public surface is deliberate: pin it, so a change to it is a visible decision."""

from __future__ import annotations

import postgen


def test_postgen_exports_a_sorted_deliberate_list() -> None:
    assert postgen.__all__ == sorted(postgen.__all__)
    assert set(postgen.__all__) == {
        "ArticleCandidate",
        "ArticleCard",
        "Brief",
        "CardScore",
        "ChatClient",
        "ChatRequest",
        "Completion",
        "ConfigError",
        "Endpoint",
        "JudgeVote",
        "LLMError",
        "Post",
        "PostgenError",
        "RunAborted",
        "RunResult",
        "Settings",
        "agenerate",
        "compose",
        "execute",
        "generate",
        "load_settings",
        "open_endpoint",
        "run",
        "run_async",
    }
    for name in postgen.__all__:
        assert getattr(postgen, name) is not None
