"""Each profile refuses the way its real server does (captures named in postgen/sim/refusals.py).

Rate limits: `rpm=6` is a bucket of one request, so the second request in a row is refused.
Capacity: `capacity=1, queue=0` and one slow request in service, so the next one overflows.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest

from postgen.sim import SimServer
from postgen.sim.profiles import PROFILES

from .busy import SLOW, refused_while_busy
from .helpers import chat

Make = Callable[..., SimServer]
GO_DURATION = re.compile(r"^(\d+h)?(\d+m)?(\d+(\.\d+)?s|\d+ms)$")
RFC3339_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
INTEGER = re.compile(r"^\d+$")
RATE_HEADER = re.compile(r"^(x-ratelimit-|anthropic-ratelimit-|retry-after|x-should-retry)")


def _second_of_two(server: SimServer, body: dict[str, object] | None = None) -> httpx.Response:
    with httpx.Client(base_url=server.base_url, timeout=10) as c:
        first = c.post("/chat/completions", json=body or chat("hello"))
        assert first.status_code == 200, first.text
        return c.post("/chat/completions", json=body or chat("hello"))


def _rate_headers(response: httpx.Response) -> set[str]:
    return {h for h in response.headers if RATE_HEADER.match(h)}


def test_every_profile_is_listed_with_a_summary() -> None:
    assert set(PROFILES) >= {
        "sim",
        "openai",
        "azure",
        "anthropic",
        "bare",
        "overload503",
        "queue",
        "vllm",
        "llamacpp",
        "ollama",
    }
    assert all(p.summary for p in PROFILES.values())


def test_openai_rate_limit(make_server: Make) -> None:
    server = make_server(profile="openai", rpm=6)
    with httpx.Client(base_url=server.base_url, timeout=10) as c:
        responses = [c.post("/chat/completions", json=chat("hello")) for _ in range(12)]
    assert responses[0].status_code == 200
    assert responses[0].headers["x-ratelimit-limit-requests"] == "6"
    refused = responses[1:]
    assert {r.status_code for r in refused} == {429}
    for r in refused:
        assert r.headers["x-ratelimit-limit-requests"] == "6"
        assert INTEGER.match(r.headers["x-ratelimit-remaining-requests"])
        assert GO_DURATION.match(r.headers["x-ratelimit-reset-requests"])
        assert "retry-after-ms" not in r.headers  # an Azure header; OpenAI never sends it
        error = r.json()["error"]
        assert error["type"] == "requests" and error["code"] == "rate_limit_exceeded"
        assert error["param"] is None
        message = error["message"]
        assert message.startswith("Rate limit reached for sim-1 in organization ")
        assert "on requests per min (RPM): Limit 6, Used " in message
        wait = re.search(r"Please try again in (\S+)\. Visit ", message)
        assert wait is not None and GO_DURATION.match(wait.group(1))
    with_retry = [r for r in refused if "retry-after" in r.headers]
    assert 0 < len(with_retry) < len(refused)  # "sometimes"
    assert all(INTEGER.match(r.headers["retry-after"]) for r in with_retry)


def test_openai_token_limit(make_server: Make) -> None:
    server = make_server(profile="openai", tpm=60)  # a bucket of 10 tokens
    refused = _second_of_two(server)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["type"] == "tokens" and "on tokens per min (TPM): Limit 60" in error["message"]
    assert refused.headers["x-ratelimit-limit-tokens"] == "60"
    assert GO_DURATION.match(refused.headers["x-ratelimit-reset-tokens"])


def test_openai_request_above_the_whole_tpm_is_too_large(make_server: Make) -> None:
    server = make_server(profile="openai", tpm=100)
    response = httpx.post(f"{server.base_url}/chat/completions", json=chat("x" * 800), timeout=10)
    assert response.status_code == 429 and "retry-after" not in response.headers
    error = response.json()["error"]
    assert error["type"] == "tokens" and error["code"] == "rate_limit_exceeded"
    assert error["message"].startswith("Request too large for sim-1 in organization ")
    assert "on tokens per min (TPM): Limit 100, Requested " in error["message"]


def test_openai_overflow_is_503_server_error(make_server: Make) -> None:
    server = make_server(profile="openai", capacity=1, queue=0, **SLOW)
    refused = refused_while_busy(server)
    assert refused.status_code == 503
    error = refused.json()["error"]
    assert error["type"] == "server_error" and error["code"] is None and error["param"] is None
    assert error["message"].startswith("That model is currently overloaded with other requests.")
    assert server.stats()["by_status"]["503"] == 1


def test_azure_rate_limit(make_server: Make) -> None:
    server = make_server(profile="azure", rpm=6, tpm=6000)
    refused = _second_of_two(server)
    assert refused.status_code == 429
    headers = _rate_headers(refused)
    assert headers == {
        "x-ratelimit-remaining-requests",
        "x-ratelimit-remaining-tokens",
        "retry-after",
        "retry-after-ms",
    }
    seconds, millis = int(refused.headers["retry-after"]), int(refused.headers["retry-after-ms"])
    assert seconds >= 1 and 0 < millis <= seconds * 1000
    body = refused.json()
    assert set(body["error"]) == {"code", "message"} and body["error"]["code"] == "429"
    message = body["error"]["message"]
    assert "have exceeded call rate limit of your current OpenAI S0 pricing tier" in message
    assert re.search(rf"Please retry after {seconds} seconds?\.", message)


def test_azure_overflow_is_a_429_too(make_server: Make) -> None:
    server = make_server(profile="azure", capacity=1, queue=0, **SLOW)
    refused = refused_while_busy(server)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "429"
    assert "experiencing high demand" in refused.json()["error"]["message"]
    assert INTEGER.match(refused.headers["retry-after"])


def test_anthropic_rate_limit(make_server: Make) -> None:
    server = make_server(profile="anthropic", rpm=6, tpm=60000)
    refused = _second_of_two(server)
    assert refused.status_code == 429
    families = ("requests", "tokens", "input-tokens", "output-tokens")
    for family in families:
        for part in ("limit", "remaining"):
            assert INTEGER.match(refused.headers[f"anthropic-ratelimit-{family}-{part}"])
        assert RFC3339_Z.match(refused.headers[f"anthropic-ratelimit-{family}-reset"])
    assert refused.headers["anthropic-ratelimit-requests-limit"] == "6"
    assert INTEGER.match(refused.headers["retry-after"])
    assert refused.headers["x-should-retry"] == "true"
    assert not any(h.startswith("x-ratelimit-") for h in refused.headers)
    error = refused.json()["error"]  # the OpenAI-compatible path's odd pairing
    assert error["code"] == "rate_limit_error" and error["type"] == "invalid_request_error"
    assert error["message"].startswith("This request would exceed the rate limit")


def test_anthropic_overflow_is_529_overloaded(make_server: Make) -> None:
    server = make_server(profile="anthropic", capacity=1, queue=0, **SLOW)
    refused = refused_while_busy(server)
    assert refused.status_code == 529
    body = refused.json()
    assert body == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    assert refused.headers["x-should-retry"] == "true" and "retry-after" not in refused.headers


def test_bare_rate_limit_and_overflow_look_the_same(make_server: Make) -> None:
    limited = _second_of_two(make_server(profile="bare", rpm=6))
    overflow = refused_while_busy(make_server(profile="bare", capacity=1, queue=0, **SLOW))
    for refused in (limited, overflow):
        assert refused.status_code == 429
        assert _rate_headers(refused) == set()
        assert refused.headers["content-type"].startswith("text/plain")
        assert refused.text == "Too Many Requests\n"
    names = {"server", "connection", "content-type", "content-length"}
    assert set(limited.headers) == set(overflow.headers) == names


@pytest.mark.parametrize("retry_after", [True, False])
def test_overload503_with_and_without_retry_after(make_server: Make, retry_after: bool) -> None:
    server = make_server(
        profile="overload503", capacity=1, queue=0, retry_after=retry_after, **SLOW
    )
    refused = refused_while_busy(server)
    assert refused.status_code == 503
    assert ("retry-after" in refused.headers) is retry_after
    if retry_after:
        assert INTEGER.match(refused.headers["retry-after"])


def test_ollama_queue_full_is_503_server_busy(make_server: Make) -> None:
    server = make_server(profile="ollama", queue=0, **SLOW)  # its one slot, no queue
    refused = refused_while_busy(server)
    assert refused.status_code == 503 and "retry-after" not in refused.headers
    assert refused.json() == {
        "error": {
            "message": "server busy, please try again.  maximum pending requests exceeded",
            "type": "api_error",
            "param": None,
            "code": None,
        }
    }


def test_ollama_unknown_model(make_server: Make) -> None:
    server = make_server(profile="ollama")
    response = httpx.post(
        f"{server.base_url}/chat/completions", json={**chat("hi"), "model": "foo"}
    )
    assert response.status_code == 404
    error = {
        "message": "model 'foo' not found",
        "type": "not_found_error",
        "param": None,
        "code": None,
    }
    assert response.json() == {"error": error}
    assert server.stats()["limits"]["queue"] == 512 and server.stats()["limits"]["capacity"] == 1


def test_local_servers_default_to_an_unbounded_queue(make_server: Make) -> None:
    for name, capacity in (("queue", 4), ("vllm", 256), ("llamacpp", 1)):
        limits = make_server(profile=name).stats()["limits"]
        assert limits["capacity"] == capacity and limits["queue"] is None, name
    assert make_server(profile="llamacpp", capacity=2, queue=3).stats()["limits"] == {
        "rpm": None,
        "tpm": None,
        "capacity": 2,
        "queue": 3,
        "n_ctx": 2048,
    }


def test_queue_profile_waits_instead_of_refusing(make_server: Make) -> None:
    import asyncio

    server = make_server(profile="queue", capacity=2, time_scale=1.0, ttft_s=0.4, per_token_s=0)
    limits = httpx.Limits(max_connections=6)

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=30) as c:
            return await asyncio.gather(
                *(c.post("/chat/completions", json=chat(f"q {i}")) for i in range(6))
            )

    responses = asyncio.run(burst())
    assert [r.status_code for r in responses] == [200] * 6
    stats = server.stats()
    assert stats["peak_processing"] == 2 and stats["peak_queued"] >= 1
    assert stats["queued"] == 0


def test_llamacpp_models_and_model_echo(make_server: Make) -> None:
    server = make_server(profile="llamacpp")
    with httpx.Client(base_url=server.base_url, timeout=10) as c:
        listing = c.get("/models").json()
        assert listing == {
            "object": "list",
            "data": [
                {
                    "id": "models/SmolLM2-135M-Instruct.Q4_1.gguf",
                    "object": "model",
                    "owned_by": "me",
                    "permissions": [],
                }
            ],
        }
        alias = c.post("/chat/completions", json={**chat("hi"), "model": "my-alias"})
        assert alias.status_code == 200 and alias.json()["model"] == "my-alias"
        bare = c.post("/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]})
        assert bare.json()["model"] == "models/SmolLM2-135M-Instruct.Q4_1.gguf"
        assert (
            INTEGER.match(alias.headers["openai-processing-ms"]) and alias.headers["x-request-id"]
        )


def test_unknown_profile_is_refused() -> None:
    from postgen.sim import SimConfig

    with pytest.raises(ValueError, match="unknown simulator profile 'nope'"):
        SimConfig(profile="nope")


def test_a_queue_bound_on_an_unbounded_server_refuses_in_its_envelope(make_server: Make) -> None:
    # vLLM has no queue limit of its own; given one, the refusal uses vLLM's error envelope.
    server = make_server(profile="vllm", capacity=1, queue=0, **SLOW)
    refused = refused_while_busy(server)
    assert refused.status_code == 503
    error = refused.json()["error"]
    assert error["code"] == 503 and error["type"] == "ServiceUnavailableError"
