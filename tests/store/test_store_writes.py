"""Writing to the call store: a failed write is retried briefly, then raised as one error that
names the path and the errno; replies are redacted before they are written."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import pytest

from postgen.errors import RunAborted
from postgen.llm.types import Completion, Usage
from postgen.observe.logs import Redactor
from postgen.store import sqlite as store_module
from postgen.store.sqlite import WRITE_RETRY_DELAYS_S, SQLiteStore, StoreWriteFailed, open_store


def _completion(text: str = "hello") -> Completion:
    return Completion(text, Usage(1, 2), 0.1, "sim-1")


def test_a_full_store_is_retried_then_raises_naming_path_and_errno(tmp_path: Path) -> None:
    slept: list[float] = []
    store = SQLiteStore(tmp_path / "calls.sqlite", sleep=slept.append)
    try:
        store.put("small", _completion())
        # SQLite's own limit on the file's size: a real SQLITE_FULL, as on a full disk.
        (pages,) = store._db.execute("PRAGMA page_count").fetchone()
        store._db.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(StoreWriteFailed) as caught:
            store.put("big", _completion("x" * 200_000))
        assert slept == list(WRITE_RETRY_DELAYS_S)  # retried, briefly, then given up
        assert store.failed_writes == 1
        error = caught.value
        assert isinstance(error, RunAborted)  # the run stops: no more paid work undurably
        assert error.errno == errno.ENOSPC
        message = str(error)
        assert str(tmp_path / "calls.sqlite") in message
        assert "[Errno 28]" in message and "\n" not in message
        assert store.get("small") is not None and store.get("big") is None
    finally:
        store.close()


def test_a_locked_store_is_not_retried_beyond_its_busy_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_S", 0.05)
    slept: list[float] = []
    store = SQLiteStore(tmp_path / "calls.sqlite", sleep=slept.append)
    other = sqlite3.connect(tmp_path / "calls.sqlite", isolation_level=None, timeout=0)
    try:
        other.execute("BEGIN EXCLUSIVE")  # another process holds the file
        with pytest.raises(StoreWriteFailed) as caught:
            store.put("k", _completion())
        assert slept == []  # SQLite already waited BUSY_TIMEOUT_S
        assert caught.value.errno == errno.EBUSY
        other.execute("ROLLBACK")
        store.put("k", _completion())  # once the lock is gone, writes work again
        assert store.get("k") is not None
    finally:
        other.close()
        store.close()


def test_a_reply_echoing_the_key_is_redacted_before_it_is_stored(tmp_path: Path) -> None:
    key = "sk-ECHOTEST-0123456789abcdef"
    redact = Redactor()
    redact.add(key)
    echoed = f"Sure! Your key is {key}; a prefix: {key[:12]} end."
    with open_store(tmp_path / "calls.sqlite", redact=redact) as store:
        store.put("k", _completion(echoed))
        hit = store.get("k")
    assert hit is not None and key[:8] not in hit.text
    assert hit.text.startswith("Sure! Your key is ***") and hit.text.endswith("end.")
    assert key[:8].encode() not in (tmp_path / "calls.sqlite").read_bytes()
