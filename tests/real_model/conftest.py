"""The real-model tier: a real llama.cpp server, started once for the tier."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.real_model.server import LlamaServer, find_gguf, llama_server, skip_reason


@pytest.fixture(scope="session")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    reason = skip_reason()
    if reason is not None:
        if os.environ.get("POSTGEN_REQUIRE_REAL_MODEL"):  # CI: the tier must run
            pytest.fail(reason)
        pytest.skip(reason)
    gguf = find_gguf()
    assert gguf is not None
    with llama_server(gguf, tmp_path_factory.mktemp("llama")) as server:
        yield server
