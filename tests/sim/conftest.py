"""Fixtures: a simulator on a background thread, and a client for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from postgen.sim import SimConfig, SimServer


@pytest.fixture
def make_server() -> Iterator[Callable[..., SimServer]]:
    servers: list[SimServer] = []

    def make(**options: Any) -> SimServer:
        options.setdefault("time_scale", 0.0)
        server = SimServer(SimConfig(**options))
        server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def sim(make_server: Callable[..., SimServer]) -> SimServer:
    return make_server()


@pytest.fixture
def client(sim: SimServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url, timeout=10) as c:
        yield c
