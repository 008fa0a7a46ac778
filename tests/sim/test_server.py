"""Limits, faults, stats and errors of the simulated provider, over real loopback HTTP."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable

import httpx

from postgen.sim import ScheduleStep, SimConfig, SimServer, serve

from .helpers import chat, reply_text

Make = Callable[..., SimServer]
CARD_PROMPT = '<article id="1"># Title\n\nHook sentence here.\n\n## Point\n\nText.</article>'


async def _burst(
    server: SimServer, n: int, body: dict[str, object] | None = None
) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=n)
    async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=10) as c:
        payload = body or chat("hello")
        return await asyncio.gather(*(c.post("/chat/completions", json=payload) for _ in range(n)))


def test_completion_shape_and_usage(client: httpx.Client) -> None:
    data = client.post("/chat/completions", json=chat("hello there")).json()
    assert data["object"] == "chat.completion" and data["model"] == "sim-1"
    choice = data["choices"][0]
    assert choice["index"] == 0 and choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    usage = data["usage"]
    assert usage["prompt_tokens"] == 3  # ceil(11 / 4)
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_models_and_unknown_model(client: httpx.Client) -> None:
    models = client.get("/models").json()
    assert models["object"] == "list" and {m["id"] for m in models["data"]} == {
        "sim-1",
        "sim-large",
    }
    response = client.post("/chat/completions", json={**chat("hi"), "model": "gpt-nope"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"


def test_bad_requests(client: httpx.Client) -> None:
    assert client.post("/chat/completions", content=b"{nope").status_code == 400
    assert client.post("/chat/completions", json={"model": "sim-1"}).status_code == 400
    assert client.get("/chat/completions").status_code == 405
    assert client.get("/nowhere").status_code == 404


def test_api_key(make_server: Make) -> None:
    server = make_server(api_key="secret")
    with httpx.Client(base_url=server.base_url) as c:
        wrong = c.post("/chat/completions", json=chat("hi"), headers={"authorization": "Bearer x"})
        assert wrong.status_code == 401
        assert wrong.json()["error"]["code"] == "invalid_api_key"
        assert c.post("/chat/completions", json=chat("hi")).status_code == 401
        ok = c.post(
            "/chat/completions", json=chat("hi"), headers={"authorization": "Bearer secret"}
        )
        assert ok.status_code == 200


def test_insufficient_quota(make_server: Make) -> None:
    server = make_server(insufficient_quota=True)
    response = httpx.post(f"{server.base_url}/chat/completions", json=chat("hi"))
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "insufficient_quota"
    assert "retry-after" not in response.headers


def test_rpm_limit_gives_429_with_retry_after(make_server: Make) -> None:
    server = make_server(rpm=60)  # burst 10, then one per second
    responses = asyncio.run(_burst(server, 30))
    statuses = Counter(r.status_code for r in responses)
    assert statuses[200] == 10 and statuses[429] == 20
    limited = next(r for r in responses if r.status_code == 429)
    assert 0 < float(limited.headers["retry-after"]) <= 1.0
    assert int(limited.headers["retry-after-ms"]) > 0
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    for response in responses:
        assert response.headers["x-ratelimit-limit-requests"] == "60"
        assert int(response.headers["x-ratelimit-remaining-requests"]) >= 0
        assert response.headers["x-ratelimit-reset-requests"].endswith("s")


def test_tpm_limit_and_headers_off(make_server: Make) -> None:
    server = make_server(tpm=600, rate_headers=False)  # burst 100 tokens
    responses = asyncio.run(_burst(server, 10, chat("x" * 200)))
    statuses = Counter(r.status_code for r in responses)
    assert statuses[429] > 0 and statuses[200] > 0
    for response in responses:
        assert not any(h.startswith("x-ratelimit") for h in response.headers)
    assert json.loads(next(r for r in responses if r.status_code == 429).text)["error"]["type"] == (
        "tokens"
    )


def test_capacity_queue_and_overflow(make_server: Make) -> None:
    # A second per request, so the whole burst is at the server before the first one is done.
    server = make_server(capacity=2, queue=3, time_scale=1.0, ttft_s=1.0, per_token_s=0.0)
    responses = asyncio.run(_burst(server, 8))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 5, 503: 3}
    assert (
        next(r for r in responses if r.status_code == 503).json()["error"]["type"] == "overloaded"
    )
    stats = server.stats()
    assert stats["peak_processing"] == 2 and stats["peak_concurrency"] >= 5


def test_schedule_changes_capacity(make_server: Make) -> None:
    step = ScheduleStep(1.5, capacity=1)
    server = make_server(capacity=4, schedule=(step,), time_scale=1.0, ttft_s=0.5, per_token_s=0)
    before = Counter(r.status_code for r in asyncio.run(_burst(server, 4)))
    _wait_until(lambda: server.stats()["limits"]["capacity"] == 1)
    after = Counter(r.status_code for r in asyncio.run(_burst(server, 4)))
    assert before == {200: 4}
    assert after == {200: 1, 503: 3}
    assert server.stats()["limits"]["capacity"] == 1


def test_fault_rates_are_roughly_honoured(make_server: Make) -> None:
    server = make_server(error_rate=0.2, malformed_rate=0.3, seed=3)
    responses = asyncio.run(
        _burst(server, 200, chat(CARD_PROMPT, response_format={"type": "json_object"}))
    )
    statuses = Counter(r.status_code for r in responses)
    assert 20 <= statuses[500] <= 60
    broken = 0
    for response in (r for r in responses if r.status_code == 200):
        try:
            json.loads(reply_text(response))
        except ValueError:
            broken += 1
    assert 25 <= broken <= 80
    stats = server.stats()
    assert stats["faults"]["error"] == statuses[500]
    assert stats["faults"]["malformed"] == broken


def test_faults_are_deterministic(make_server: Make) -> None:
    def run() -> list[int]:
        server = make_server(error_rate=0.5, seed=11)
        with httpx.Client(base_url=server.base_url) as c:
            return [c.post("/chat/completions", json=chat("hi")).status_code for _ in range(20)]

    assert run() == run()


def test_hang_is_cancelled_on_stop(make_server: Make) -> None:
    server = make_server(hang_rate=1.0, hang_s=60)
    with httpx.Client(base_url=server.base_url, timeout=0.3) as c:
        try:
            c.post("/chat/completions", json=chat("hi"))
        except httpx.ReadTimeout:
            pass
        else:
            raise AssertionError("expected a hang")
    assert server.stats()["faults"]["hang"] == 1
    server.stop()  # returns although a request hangs (pytest-timeout guards against a hang)
    assert server.stats()["faults"]["hang"] == 1


def test_burst_429_windows(make_server: Make) -> None:
    # Windows open at 1 s, 2 s, ... for 0.5 s; the window arithmetic itself is unit-tested.
    server = make_server(burst_429_every_s=1.0, burst_429_len_s=0.5)
    seen: dict[int, httpx.Response] = {}
    with httpx.Client(base_url=server.base_url) as c:
        _wait_until(
            lambda: (
                seen.setdefault((r := c.post("/chat/completions", json=chat("hi"))).status_code, r)
                and 200 in seen
                and 429 in seen
            )
        )
    assert 0 < float(seen[429].headers["retry-after"]) <= 0.5


def test_stats_counts_and_reset(client: httpx.Client, sim: SimServer) -> None:
    client.post("/chat/completions", json=chat(CARD_PROMPT))
    client.post("/chat/completions", json=chat("hello"))
    client.post("/chat/completions", json={**chat("hi"), "model": "nope"})
    root = sim.root_url
    stats = httpx.get(f"{root}/stats").json()
    assert stats["by_status"] == {"200": 2, "404": 1}
    assert stats["completed"] == 2 and stats["requests"] == 3
    assert stats["by_kind"] == {"extract": 1, "generic": 1}
    assert stats["prompt_tokens"] > 0 and stats["completion_tokens"] > 0
    assert stats == sim.stats() | {"seconds": stats["seconds"]}
    reset = httpx.post(f"{root}/stats/reset").json()
    assert reset["requests"] == 0 and reset["by_kind"] == {}


def test_stats_survive_stop(make_server: Make) -> None:
    server = make_server()
    httpx.post(f"{server.base_url}/chat/completions", json=chat("hi"))
    server.stop()
    assert server.stats()["completed"] == 1


async def test_serve_in_the_running_loop_serves_concurrent_clients() -> None:
    # Its speed is measured in benchmarks/ (requests/s), not asserted here.
    async with await serve(SimConfig(time_scale=0)) as app:
        limits = httpx.Limits(max_connections=32)
        async with httpx.AsyncClient(base_url=app.url, limits=limits) as c:
            responses = await asyncio.gather(
                *(c.post("/chat/completions", json=chat(f"hi {i}")) for i in range(400))
            )
        assert all(r.status_code == 200 for r in responses)
        assert app.stats()["completed"] == 400


def test_http_keep_alive_and_raw_protocol(sim: SimServer) -> None:
    import socket

    body = json.dumps(chat("hi")).encode()
    request = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    chunked = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n" + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", int(sim.base_url.split(":")[2][:-3]))) as s:
        s.sendall(request + chunked)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.count(b"HTTP/1.1 200 OK") == 2


def _wait_until(predicate: Callable[[], object], *, tries: int = 400) -> None:
    """Poll every 20 ms; the bound only guards against a hang (about 8 s at rest)."""
    for _ in range(tries):
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition never held")
