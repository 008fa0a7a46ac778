"""Durable finished LLM calls: one SQLite row per call, written the moment the call finishes.

The key is `postgen.calls.call_key` (endpoint, model, messages, sampling parameters, item id,
vote and seed, hashed), so running the same command again replays every finished call and
sends only the rest. Only what a stage reads back is stored: text, usage, model. No request
headers, no response headers, never the API key.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from loguru import logger

from postgen.errors import ConfigError
from postgen.llm.types import Completion, Usage

__all__ = ["SQLiteStore", "migrations", "open_store"]

# Numbered schema migrations: entry i takes a store from user_version i to i + 1. Append only.
migrations: list[str] = [
    """
    CREATE TABLE calls (
        key           TEXT PRIMARY KEY,
        text          TEXT NOT NULL,
        model         TEXT NOT NULL,
        input_tokens  INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        latency_s     REAL NOT NULL,
        created_at    REAL NOT NULL
    ) WITHOUT ROWID;
    """,
]


class SQLiteStore:
    """`postgen.engine.caller.CallStore` on one SQLite file (WAL, one connection, a lock)."""

    __slots__ = ("_db", "_lock", "failed_writes", "path")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.failed_writes = 0
        self._lock = threading.Lock()
        self._db = _connect(path)
        try:
            _migrate(self._db, path)
        except sqlite3.Error as exc:
            self._db.close()
            raise ConfigError("cache.path", f"{path} is not a postgen store: {_why(exc)}") from None
        except BaseException:
            self._db.close()
            raise

    def get(self, key: str) -> Completion | None:
        with self._lock:
            row = self._db.execute(
                "SELECT text, model, input_tokens, output_tokens, latency_s FROM calls"
                " WHERE key = ?",
                (key,),
            ).fetchone()
        if row is None:
            return None
        text, model, tokens_in, tokens_out, latency = row
        return Completion(text, Usage(tokens_in, tokens_out), latency, model, cached=True)

    def put(self, key: str, completion: Completion) -> None:
        row = (
            key,
            completion.text,
            completion.model,
            completion.usage.input_tokens,
            completion.usage.output_tokens,
            completion.latency_s,
            time.time(),
        )
        with self._lock:  # autocommit: the row is on disk when this returns
            try:
                self._db.execute("INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?, ?, ?, ?)", row)
            except sqlite3.Error as exc:
                # The answer is paid for: use it even though it could not be made durable.
                self.failed_writes += 1
                logger.warning("could not store a finished call in {}: {}", self.path, exc)

    def __len__(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT count(*) FROM calls").fetchone()
        return int(n)

    def close(self) -> None:
        with self._lock:
            self._db.close()


@contextmanager
def open_store(path: str | Path) -> Iterator[SQLiteStore]:
    """Open (creating it and its directory if needed) the store at `path`; closed on exit."""
    store = SQLiteStore(Path(path).expanduser().absolute())
    try:
        yield store
    finally:
        store.close()


def _connect(path: Path) -> sqlite3.Connection:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: autocommit, so every put is its own durable transaction.
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError("cache.path", f"cannot open {path}: {_why(exc)}") from None
    try:
        db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a killed process; only a power cut may lose the last rows.
        db.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.Error as exc:
        db.close()
        raise ConfigError("cache.path", f"{path} is not a postgen store: {_why(exc)}") from None
    return db


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version > len(migrations):
        raise ConfigError("cache.path", f"{path} was written by a newer postgen")
    for number in range(version, len(migrations)):
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(migrations[number])
            db.execute(f"PRAGMA user_version = {number + 1}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


def _why(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
