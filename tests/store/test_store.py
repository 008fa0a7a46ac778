"""The SQLite call store: round trip, migrations, concurrent writers, damaged files, keys."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from postgen.cli.run import execute
from postgen.engine.caller import call_key
from postgen.errors import ConfigError
from postgen.llm.types import ChatRequest, Completion, Usage
from postgen.store.sqlite import SQLiteStore, migrations, open_store
from tests.conftest import settings_for


def _completion(text: str = "hello") -> Completion:
    return Completion(text, Usage(12, 34), 0.5, "sim-1", headers={"x-request-id": "r1"})


def _request(**change: object) -> ChatRequest:
    fields: dict[str, object] = {
        "model": "sim-1",
        "messages": [{"role": "user", "content": "Write."}],
        "temperature": 0.7,
        "max_tokens": 100,
        "seed": 42,
    }
    fields.update(change)
    return ChatRequest(**fields)  # type: ignore[arg-type]


def test_round_trip_replays_as_cached_without_headers(tmp_path: Path):
    with open_store(tmp_path / "deep" / "calls.sqlite") as store:
        assert store.get("k") is None
        store.put("k", _completion())
        hit = store.get("k")
    assert hit == Completion("hello", Usage(12, 34), 0.5, "sim-1", cached=True)
    assert hit.headers == {}  # response headers are not kept


def test_rows_are_durable_at_once_and_wal(tmp_path: Path):
    path = tmp_path / "calls.sqlite"
    store = SQLiteStore(path)
    store.put("k", _completion())
    other = sqlite3.connect(path)  # another process would see it: no commit pending
    assert other.execute("SELECT text FROM calls WHERE key='k'").fetchone() == ("hello",)
    assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    other.close()
    store.close()


def test_migrations_are_numbered_and_run_once(tmp_path: Path):
    path = tmp_path / "calls.sqlite"
    with open_store(path) as store:
        store.put("k", _completion())
    with open_store(path) as store:  # reopening migrates nothing and keeps the rows
        assert len(store) == 1
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone() == (len(migrations),)
    db.close()


def test_a_store_from_a_newer_postgen_is_refused(tmp_path: Path):
    path = tmp_path / "calls.sqlite"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {len(migrations) + 1}")
    db.close()
    with pytest.raises(ConfigError, match=r"cache\.path: .* was written by a newer postgen"):
        SQLiteStore(path)


def test_a_file_that_is_no_database_is_one_config_error(tmp_path: Path):
    path = tmp_path / "calls.sqlite"
    path.write_bytes(b"this is not sqlite at all, just text" * 100)
    with pytest.raises(ConfigError, match=r"cache\.path: .* is not a postgen store"):
        SQLiteStore(path)


def test_concurrent_writers_lose_nothing(tmp_path: Path):
    with open_store(tmp_path / "calls.sqlite") as store:

        def write(worker: int) -> None:
            for i in range(100):
                store.put(f"{worker}:{i}", _completion(f"{worker}:{i}"))
                assert store.get(f"{worker}:{i}") is not None

        threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(store) == 800


def test_the_key_covers_everything_that_determines_the_answer():
    base = call_key("http://h/v1", _request(), "3/vote1")
    assert call_key("http://h/v1", _request(), "3/vote1") == base
    variants = [
        call_key("http://other/v1", _request(), "3/vote1"),
        call_key("http://h/v1", _request(), "3/vote2"),
        call_key("http://h/v1", _request(), "4/vote1"),
        call_key("http://h/v1", _request(model="sim-large"), "3/vote1"),
        call_key("http://h/v1", _request(seed=43), "3/vote1"),
        call_key("http://h/v1", _request(temperature=0.2), "3/vote1"),
        call_key("http://h/v1", _request(max_tokens=101), "3/vote1"),
        call_key("http://h/v1", _request(messages=[{"role": "user", "content": "x"}]), "3/vote1"),
        call_key("http://h/v1", _request(json_mode=True), "3/vote1"),
    ]
    assert len({base, *variants}) == len(variants) + 1


def test_replayed_unusable_replies_are_asked_again_live(tmp_path: Path) -> None:
    # Every structured reply is malformed in the first run, so extraction fails; the store
    # keeps those replies. The second run must not replay them into the same failure.
    common = (
        "iterations=2",
        "votes=1",
        "top_k=1",
        "llm.sim.time_scale=0",
        "llm.json_schema=false",
        f"cache.path={tmp_path / 'calls.sqlite'}",
        "quiet=true",
    )
    first = settings_for(*common, "llm.sim.malformed_rate=1.0")
    assert execute(first, tmp_path / "run1") == 1
    second = settings_for(*common)
    assert execute(second, tmp_path / "run2") == 0
    cards = (tmp_path / "run2" / "cards.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(cards) == 2
