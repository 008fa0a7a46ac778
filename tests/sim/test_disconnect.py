"""A client that leaves: the generation stops (or, like llama-cpp-python without streaming,
runs on), `/stats` counts it `abandoned`, and the slot is free for the next request."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable

from postgen.sim import SimServer

from .busy import SLOW, wait_until
from .helpers import chat

Make = Callable[..., SimServer]


def _open(server: SimServer, text: str = "hello") -> socket.socket:
    """A raw connection with one chat request sent and its answer not read."""
    body = json.dumps(chat(text)).encode()
    head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
    sock = socket.create_connection((server.host, server.port))
    sock.sendall(head.encode() + body)
    return sock


def test_plain_request_stops_when_its_client_leaves(make_server: Make) -> None:
    server = make_server(capacity=1, **SLOW)  # the answer would take 30 s
    sock = _open(server)
    wait_until(lambda: server.stats()["processing"] == 1)
    sock.close()
    wait_until(lambda: server.stats()["abandoned"] == 1)
    stats = server.stats()
    assert stats["processing"] == 0 and stats["concurrency"] == 0
    assert stats["abandoned_finished"] == 0 and stats["completed"] == 0
    assert stats["by_status"] == {"499": 1}
    assert server.stats()["limits"]["capacity"] == 1


def test_freed_slot_serves_the_next_request_at_once(make_server: Make) -> None:
    server = make_server(capacity=1, queue=4, **SLOW)
    first = _open(server, "first")
    wait_until(lambda: server.stats()["processing"] == 1)
    second = _open(server, "second")
    wait_until(lambda: server.stats()["queued"] == 1)
    first.close()
    wait_until(lambda: server.stats()["abandoned"] == 1)
    stats = server.stats()
    assert stats["processing"] == 1 and stats["queued"] == 0  # the second one is in service
    assert stats["peak_queued"] == 1
    second.close()
    wait_until(lambda: server.stats()["abandoned"] == 2)
    assert server.stats()["processing"] == 0


def test_leaving_the_queue_frees_the_place(make_server: Make) -> None:
    server = make_server(capacity=1, queue=4, **SLOW)
    first = _open(server, "first")
    wait_until(lambda: server.stats()["processing"] == 1)
    queued = _open(server, "queued")
    wait_until(lambda: server.stats()["queued"] == 1)
    queued.close()
    wait_until(lambda: server.stats()["abandoned"] == 1)
    stats = server.stats()
    assert stats["queued"] == 0 and stats["processing"] == 1  # the first one is untouched
    first.close()
    wait_until(lambda: server.stats()["processing"] == 0)


def test_llamacpp_plain_generation_runs_on_after_the_client_left(make_server: Make) -> None:
    # llama-cpp-python checks for a disconnect only before generating a non-streamed reply.
    server = make_server(profile="llamacpp", time_scale=1.0, ttft_s=1.0, per_token_s=0.0)
    sock = _open(server)
    wait_until(lambda: server.stats()["processing"] == 1)
    sock.close()
    wait_until(lambda: server.stats()["abandoned_finished"] == 1)
    stats = server.stats()
    assert stats["abandoned"] == 1 and stats["processing"] == 0 and stats["completed"] == 0


def test_llamacpp_drops_a_queued_request_whose_client_left_when_its_turn_comes(
    make_server: Make,
) -> None:
    server = make_server(profile="llamacpp", time_scale=1.0, ttft_s=1.0, per_token_s=0.0)
    first = _open(server, "first")
    wait_until(lambda: server.stats()["processing"] == 1)
    queued = _open(server, "queued")
    wait_until(lambda: server.stats()["queued"] == 1)
    queued.close()
    first.recv(65536)  # the first answer arrives, then the queued one is dropped unserved
    wait_until(lambda: server.stats()["abandoned"] == 1 and server.stats()["queued"] == 0)
    stats = server.stats()
    assert stats["completed"] == 1 and stats["abandoned_finished"] == 0
    assert stats["processing"] == 0
    first.close()
