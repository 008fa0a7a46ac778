"""Durable finished LLM calls: one SQLite row per call, written the moment the call finishes.

The key is `postgen.engine.caller.call_key` (endpoint, model, messages, sampling parameters,
item id, vote and seed, hashed), so running the same command again replays every finished
call and sends only the rest. Only what a stage reads back is stored: text, usage, model,
finish reason. No request headers, no response headers, never the API key: a reply that
echoes it is redacted (the store's `redact`) before it is written.

Opening is race-free: any number of processes may use a fresh `cache.path` at once, because
the schema is created under SQLite's write lock, after re-reading the version inside it. Only a
file that is provably not a store is called "not a postgen store"; a read-only, locked, full or
damaged one gets its own message, and no message ever suggests deleting the file (it holds
paid calls).

A write that fails is retried `WRITE_RETRY_DELAYS_S` (about 0.75 s in all), then `put` raises
`StoreWriteFailed`: the run must stop sending paid requests whose answers cannot be kept.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from postgen.errors import ConfigError, RunAborted
from postgen.llm.types import Completion, Usage

__all__ = [
    "BUSY_TIMEOUT_S",
    "WRITE_RETRY_DELAYS_S",
    "SQLiteStore",
    "StoreWriteFailed",
    "migrations",
    "open_store",
]

# How long one statement waits for another process's lock before it fails.
BUSY_TIMEOUT_S = 10.0
# Pauses between the tries of a failed write (a full disk may be freed, an I/O error pass).
WRITE_RETRY_DELAYS_S = (0.05, 0.2, 0.5)
# Pauses between tries of an open refused as busy: doubling, within BUSY_TIMEOUT_S in all.
_OPEN_RETRY_FIRST_S, _OPEN_RETRY_MAX_S = 0.01, 0.2
_BUSY = ("SQLITE_BUSY", "SQLITE_LOCKED")

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
    # finish_reason: a replayed reply cut off at max_tokens is still known to be cut off.
    "ALTER TABLE calls ADD COLUMN finish_reason TEXT;",
]
_COLUMNS = (
    "key",
    "text",
    "model",
    "input_tokens",
    "output_tokens",
    "latency_s",
    "created_at",
    "finish_reason",
)

# SQLite's result codes as the errno a user knows them by (`errno` names it in the message).
_ERRNO = {
    "SQLITE_FULL": errno.ENOSPC,
    "SQLITE_READONLY": errno.EROFS,
    "SQLITE_PERM": errno.EACCES,
    "SQLITE_BUSY": errno.EBUSY,
    "SQLITE_LOCKED": errno.EBUSY,
    "SQLITE_CANTOPEN": errno.ENOENT,
}


class StoreWriteFailed(RunAborted):
    """A finished call could not be made durable: sending more would pay for answers lost."""

    def __init__(self, path: Path, code: int, detail: str) -> None:
        self.path, self.errno, self.detail = path, code, detail
        name = errno.errorcode.get(code, "EIO")
        super().__init__(
            f"cannot write the call store {path}: [Errno {code}] {os.strerror(code)}"
            f" ({name}; {detail}); finished calls are kept, so the same command resumes"
        )


class SQLiteStore:
    """`postgen.engine.caller.CallStore` on one SQLite file (WAL, one connection, a lock).

    `redact` is applied to every reply before it is written (the run's `Redactor`), so a
    server that echoes the API key cannot put it on disk.
    """

    __slots__ = ("_db", "_lock", "_redact", "_sleep", "failed_writes", "path")

    def __init__(
        self,
        path: Path,
        *,
        redact: Callable[[str], str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.path = path
        self.failed_writes = 0
        self._redact = redact
        self._sleep = sleep
        self._lock = threading.Lock()
        self._db = _open(path, sleep=sleep)

    def get(self, key: str) -> Completion | None:
        with self._lock:
            row = self._db.execute(
                "SELECT text, model, input_tokens, output_tokens, latency_s, finish_reason"
                " FROM calls WHERE key = ?",
                (key,),
            ).fetchone()
        if row is None:
            return None
        text, model, tokens_in, tokens_out, latency, finish = row
        usage = Usage(tokens_in, tokens_out)
        return Completion(text, usage, latency, model, cached=True, finish_reason=finish)

    def put(self, key: str, completion: Completion) -> None:
        """Write one finished call (durable when this returns), or raise `StoreWriteFailed`."""
        text = self._redact(completion.text) if self._redact else completion.text
        row = (
            key,
            text,
            completion.model,
            completion.usage.input_tokens,
            completion.usage.output_tokens,
            completion.latency_s,
            time.time(),
            completion.finish_reason,
        )
        delays = iter(WRITE_RETRY_DELAYS_S)
        while True:
            try:
                with self._lock:  # autocommit: the row is on disk when this returns
                    self._db.execute(
                        "INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row
                    )
                return
            except sqlite3.Error as exc:
                error = exc
            name = getattr(error, "sqlite_errorname", "")
            # A busy store already waited BUSY_TIMEOUT_S inside SQLite; waiting more is pointless.
            delay = None if name in _BUSY else next(delays, None)
            if delay is None:
                self.failed_writes += 1
                raise StoreWriteFailed(self.path, _errno(error), str(error)) from None
            self._sleep(delay)

    def __len__(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT count(*) FROM calls").fetchone()
        return int(n)

    def close(self) -> None:
        with self._lock:
            self._db.close()


@contextmanager
def open_store(
    path: str | Path, *, redact: Callable[[str], str] | None = None
) -> Iterator[SQLiteStore]:
    """Open (creating it and its directory if needed) the store at `path`; closed on exit."""
    store = SQLiteStore(Path(path).expanduser().absolute(), redact=redact)
    try:
        yield store
    finally:
        store.close()


def _open(
    path: Path,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> sqlite3.Connection:
    """Connect and migrate, starting over while another process holds the store's lock.

    SQLite answers SQLITE_BUSY at once, without waiting in its busy handler, where waiting
    could deadlock: processes opening a fresh file together all read it in rollback mode and
    then want the exclusive lock that switching it to WAL takes, and one of them is refused
    (one of eight processes in CI). Every try shares one `BUSY_TIMEOUT_S` bound.
    """
    _prepare(path)
    deadline = clock() + BUSY_TIMEOUT_S
    pause = _OPEN_RETRY_FIRST_S
    while True:
        try:
            return _connect_and_migrate(path, max(deadline - clock(), 0.0))
        except sqlite3.Error as exc:
            left = deadline - clock()
            if getattr(exc, "sqlite_errorname", "") not in _BUSY or left <= 0:
                raise _open_error(path, exc) from None
        sleep(min(pause, left))
        pause = min(2 * pause, _OPEN_RETRY_MAX_S)


def _prepare(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError("cache.path", f"cannot create {path.parent}: {_why(exc)}") from None
    if path.exists() and not path.is_file():
        raise ConfigError("cache.path", f"{path} is not a regular file")


def _connect_and_migrate(path: Path, timeout_s: float) -> sqlite3.Connection:
    # isolation_level=None: autocommit, so every put is its own durable transaction.
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=timeout_s)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a killed process; only a power cut may lose the last rows.
        db.execute("PRAGMA synchronous=NORMAL")
        # Later statements wait the full bound, however little of it this open had left.
        db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        _migrate(db, path)
    except BaseException:
        db.close()
        raise
    return db


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    if _version(db, path) == len(migrations):
        _check_shape(db, path)  # the common case needs no write lock (a read-only copy opens)
        return
    # Under the write lock, and re-read inside it: another process may have migrated meanwhile.
    db.execute("BEGIN IMMEDIATE")
    try:
        version = _version(db, path)
        if version == 0 and db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            # postgen sets user_version in the transaction that creates its tables.
            raise ConfigError(
                "cache.path", f"{path} is not a postgen store: an SQLite file of other tables"
            )
        for number in range(version, len(migrations)):
            db.execute(migrations[number])
            db.execute(f"PRAGMA user_version = {number + 1}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    _check_shape(db, path)


def _version(db: sqlite3.Connection, path: Path) -> int:
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version > len(migrations):
        raise ConfigError("cache.path", f"{path} was written by a newer postgen")
    return int(version)


def _check_shape(db: sqlite3.Connection, path: Path) -> None:
    columns = tuple(row[1] for row in db.execute("PRAGMA table_info(calls)"))
    if columns != _COLUMNS:
        raise ConfigError(
            "cache.path", f"{path} is not a postgen store: no calls table of its shape"
        )


_KEEP = "set cache.path to another file, or cache.enabled=false"


def _open_error(path: Path, exc: sqlite3.Error) -> ConfigError:
    """One honest line for a store that cannot be opened; never a suggestion to delete it."""
    name = getattr(exc, "sqlite_errorname", "")
    if not _writable(path) or name in ("SQLITE_READONLY", "SQLITE_PERM"):
        problem = f"{path} is read-only ({_why(exc)}): postgen writes every finished call there"
        return ConfigError("cache.path", f"{problem}; make it writable, or {_KEEP}")
    if name in _BUSY:
        return ConfigError(
            "cache.path",
            f"{path} is locked by another process (waited {BUSY_TIMEOUT_S:g} s); try again"
            f" when it is done, or {_KEEP}",
        )
    if name == "SQLITE_NOTADB":
        return ConfigError("cache.path", f"{path} is not a postgen store: {_why(exc)}")
    if name == "SQLITE_CORRUPT":
        return ConfigError("cache.path", f"{path} is damaged ({_why(exc)}); {_KEEP}")
    if name == "SQLITE_FULL":
        return ConfigError("cache.path", f"cannot write {path}: the disk is full; {_KEEP}")
    return ConfigError("cache.path", f"cannot open {path}: {_why(exc)}; {_KEEP}")


def _writable(path: Path) -> bool:
    # WAL needs the file and its directory (for the -wal and -shm files) writable.
    target = path if path.exists() else path.parent
    return os.access(target, os.W_OK) and os.access(path.parent, os.W_OK)


def _errno(exc: sqlite3.Error) -> int:
    return _ERRNO.get(getattr(exc, "sqlite_errorname", ""), errno.EIO)


def _why(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
