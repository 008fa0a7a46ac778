"""The local-server presets: no key required, the model discovered, the right defaults."""

from __future__ import annotations

import pytest

from postgen.engine.session import chosen_model
from postgen.errors import ConfigError, RunAborted
from postgen.llm import api_key_from_env
from tests.conftest import settings_for


@pytest.mark.parametrize("preset", ["llamacpp", "ollama", "vllm"])
def test_local_presets_need_no_key_discover_the_model_and_stream(
    preset: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm = settings_for(f"llm={preset}").llm
    if llm.api_key_env:
        monkeypatch.delenv(llm.api_key_env, raising=False)
    assert api_key_from_env(llm.api_key_env, required=llm.api_key_required) is None
    assert llm.model is None and llm.stream and llm.structured_output == "auto"


def test_a_local_key_is_sent_only_when_its_variable_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VLLM_API_KEY", "k-local-123")
    llm = settings_for("llm=vllm").llm
    assert api_key_from_env(llm.api_key_env, required=llm.api_key_required) == "k-local-123"


def test_openai_streams_and_bounds_the_wait_for_an_answer_like_an_attempt() -> None:
    llm = settings_for("llm=openai").llm
    assert llm.stream  # time to first token feeds the scheduler's fast start and queue signal
    assert llm.queue_timeout_s == 120.0


def test_openai_still_requires_its_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    llm = settings_for("llm=openai").llm
    with pytest.raises(ConfigError, match="OPENAI_API_KEY is not set"):
        api_key_from_env(llm.api_key_env, required=llm.api_key_required)


def test_a_null_model_is_the_first_listed_and_none_listed_stops_the_run() -> None:
    assert chosen_model("http://x/v1", None, ["/models/a.gguf", "b"]) == "/models/a.gguf"
    assert chosen_model("http://x/v1", "llama3.1", ["other"]) == "llama3.1"  # tried anyway
    with pytest.raises(RunAborted, match=r"llm\.model is null and the endpoint lists no model"):
        chosen_model("http://x/v1", None, [])


def test_structured_output_values_are_checked_and_json_schema_false_means_prompt() -> None:
    assert settings_for("llm.json_schema=false").structured_output() == "prompt"
    assert settings_for("llm.structured_output=json_object").structured_output() == "json_object"
    with pytest.raises(ConfigError, match=r"llm\.structured_output: must be one of auto"):
        settings_for("llm.structured_output=grammar")
