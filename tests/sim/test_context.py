"""Context windows (`n_ctx`): each profile's refusal, or its silent truncation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from postgen.sim import SimServer

from .helpers import chat

Make = Callable[..., SimServer]
PROMPT_TOKENS = 2250
LONG_PROMPT = "x" * (PROMPT_TOKENS * 4)  # the simulator counts 4 characters a token


def _post(server: SimServer, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=10)


def test_llamacpp_refuses_a_prompt_that_fills_n_ctx(make_server: Make) -> None:
    server = make_server(profile="llamacpp")  # n_ctx 2048 by default
    response = _post(server, chat(LONG_PROMPT))
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "message": "This model's maximum context length is 2048 tokens. However, you "
            "requested 2250 tokens (2250 in the messages, None in the completion). Please reduce "
            "the length of the messages or completion.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    }
    with_max = _post(server, chat(LONG_PROMPT, max_tokens=100)).json()["error"]["message"]
    assert "you requested 2350 tokens (2250 in the messages, 100 in the completion)" in with_max


def test_llamacpp_shortens_max_tokens_silently(make_server: Make) -> None:
    server = make_server(profile="llamacpp", n_ctx=64)
    prompt = "y" * 200  # 50 tokens: 14 left for the answer
    body = _post(server, chat(prompt, max_tokens=1000)).json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"] == {"prompt_tokens": 50, "completion_tokens": 14, "total_tokens": 64}


def test_llamacpp_stream_overflow_is_a_200_with_no_events(make_server: Make) -> None:
    server = make_server(profile="llamacpp")
    with (
        httpx.Client(base_url=server.base_url, timeout=10) as c,
        c.stream("POST", "/chat/completions", json=chat(LONG_PROMPT, stream=True)) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        with pytest.raises(httpx.RemoteProtocolError):
            response.read()  # the connection ends without a body, no error JSON
    assert server.stats()["by_status"] == {"400": 1}


def test_openai_refuses_prompt_plus_max_tokens_over_the_window(make_server: Make) -> None:
    server = make_server(profile="openai", n_ctx=100)
    response = _post(server, chat("z" * 200, max_tokens=60))  # 50 + 60 > 100
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "context_length_exceeded" and error["param"] == "messages"
    assert "you requested 110 tokens (50 in the messages, 60 in the completion)" in error["message"]
    assert _post(server, chat("z" * 200, max_tokens=50)).status_code == 200


def test_vllm_refusal_names_its_parameters(make_server: Make) -> None:
    server = make_server(profile="vllm", n_ctx=100)
    error = _post(server, chat("z" * 200, max_tokens=60)).json()["error"]
    assert error["type"] == "BadRequestError" and error["code"] == 400
    assert error["param"] == "input_tokens, max_tokens"
    assert "maximum context length is 100 tokens" in error["message"]


def test_ollama_never_refuses_for_context(make_server: Make) -> None:
    server = make_server(profile="ollama", n_ctx=16)
    assert _post(server, chat(LONG_PROMPT)).status_code == 200


def test_no_window_unless_asked(make_server: Make) -> None:
    assert _post(make_server(), chat(LONG_PROMPT)).status_code == 200
    assert make_server(profile="llamacpp", n_ctx=0).stats()["limits"]["n_ctx"] is None
