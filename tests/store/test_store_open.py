"""Opening the call store: race-free first use by many processes, and an honest message for
every kind of file that cannot be used (never a suggestion to delete it)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from postgen.errors import ConfigError
from postgen.llm.types import Completion, Usage
from postgen.store import sqlite as store_module
from postgen.store.sqlite import BUSY_TIMEOUT_S, SQLiteStore, migrations, open_store
from tests.hostile.mounts import remount_read_only, small_tmpfs
from tests.reliability.helpers import launch

_OPEN_AND_WRITE = """
import sys
from pathlib import Path
from postgen.llm.types import Completion, Usage
from postgen.store.sqlite import open_store
with open_store(Path(sys.argv[1])) as store:
    for i in range(20):
        store.put(f"{sys.argv[2]}:{i}", Completion("x", Usage(1, 1), 0.1, "m"))
"""


def _completion(text: str = "hello") -> Completion:
    return Completion(text, Usage(1, 2), 0.1, "sim-1")


def test_eight_processes_opening_a_fresh_store_at_once_all_succeed(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "calls.sqlite"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN_AND_WRITE, str(path), str(n)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(8)
    ]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, errors
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert db.execute("SELECT count(*) FROM calls").fetchone() == (160,)
    assert db.execute("PRAGMA user_version").fetchone() == (len(migrations),)
    db.close()


def _refused(name: str) -> sqlite3.OperationalError:
    exc = sqlite3.OperationalError("database is locked")
    exc.sqlite_errorname = name  # what CPython's sqlite3 sets on a real one
    return exc


class _Clock:
    def __init__(self) -> None:
        self.now, self.slept = 0.0, 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


def _refusing(monkeypatch: pytest.MonkeyPatch, name: str, times: int) -> list[float]:
    """Make the first `times` opens fail as SQLite does, then open for real; return the
    timeouts each try was given."""
    real, timeouts = store_module._connect_and_migrate, []

    def connect(path: Path, timeout_s: float) -> sqlite3.Connection:
        timeouts.append(timeout_s)
        if len(timeouts) <= times:
            raise _refused(name)
        return real(path, timeout_s)

    monkeypatch.setattr(store_module, "_connect_and_migrate", connect)
    return timeouts


def _fails_to_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, match: str
) -> tuple[list[float], _Clock]:
    """Every try fails as `name`: the line `_open` ends with matches `match`."""
    timeouts, clock = _refusing(monkeypatch, name, times=10_000), _Clock()
    with pytest.raises(ConfigError, match=match):
        store_module._open(tmp_path / "calls.sqlite", clock=clock, sleep=clock.sleep)
    return timeouts, clock


def test_an_open_refused_at_once_as_busy_starts_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite answers SQLITE_BUSY without waiting where waiting could deadlock: processes
    # switching one fresh file to WAL together (one of eight failed so in CI).
    timeouts = _refusing(monkeypatch, "SQLITE_BUSY", times=3)
    clock = _Clock()
    db = store_module._open(tmp_path / "calls.sqlite", clock=clock, sleep=clock.sleep)
    try:
        assert db.execute("PRAGMA user_version").fetchone() == (len(migrations),)
        assert db.execute("PRAGMA busy_timeout").fetchone() == (int(BUSY_TIMEOUT_S * 1000),)
    finally:
        db.close()
    assert len(timeouts) == 4
    assert clock.slept == pytest.approx(0.01 + 0.02 + 0.04)  # doubling pauses
    assert timeouts == pytest.approx([BUSY_TIMEOUT_S - s for s in (0.0, 0.01, 0.03, 0.07)])


def test_a_store_busy_for_the_whole_bound_says_locked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    timeouts, clock = _fails_to_open(
        tmp_path, monkeypatch, "SQLITE_LOCKED", r"cache\.path: .* is locked by another process"
    )
    assert clock.slept == pytest.approx(BUSY_TIMEOUT_S)  # the bound, all tries together
    assert timeouts[-1] == pytest.approx(0.0)


def test_an_open_failing_otherwise_is_not_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    timeouts, clock = _fails_to_open(tmp_path, monkeypatch, "SQLITE_CORRUPT", r"is damaged")
    assert len(timeouts) == 1 and clock.slept == 0.0


def test_a_sqlite_file_of_other_tables_is_provably_not_a_store(tmp_path: Path) -> None:
    path = tmp_path / "calls.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (body TEXT)")
    db.commit()
    db.close()
    with pytest.raises(ConfigError, match=r"is not a postgen store: an SQLite file of other"):
        SQLiteStore(path)
    db = sqlite3.connect(path)  # and it was left as it was
    assert [r[0] for r in db.execute("SELECT name FROM sqlite_master")] == ["notes"]
    db.close()


def test_a_current_version_without_the_calls_table_is_not_a_store(tmp_path: Path) -> None:
    path = tmp_path / "calls.sqlite"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {len(migrations)}")
    db.close()
    with pytest.raises(ConfigError, match=r"not a postgen store: no calls table"):
        SQLiteStore(path)


def test_a_directory_at_the_path_is_named_as_such(tmp_path: Path) -> None:
    (tmp_path / "calls.sqlite").mkdir()
    with pytest.raises(ConfigError, match=r"cache\.path: .* is not a regular file"):
        SQLiteStore(tmp_path / "calls.sqlite")


def test_a_locked_fresh_store_says_locked_not_damaged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_S", 0.05)
    path = tmp_path / "calls.sqlite"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another process is in the middle of something
    try:
        with pytest.raises(ConfigError) as caught:
            SQLiteStore(path)
    finally:
        other.execute("ROLLBACK")
        other.close()
    message = str(caught.value)
    assert "is locked by another process" in message
    assert "not a postgen store" not in message
    assert "delet" not in message.lower() and "remove" not in message.lower()


def test_an_intact_store_on_a_read_only_filesystem_is_called_read_only(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "mnt", 1024) as mnt:
        path = mnt / "calls.sqlite"
        with open_store(path) as store:
            store.put("k", _completion())
        remount_read_only(mnt)
        try:
            with open_store(path) as store:  # an intact store still replays
                assert store.get("k") is not None
        except ConfigError as exc:  # or, where SQLite cannot read WAL without -shm, says why
            message = str(exc)
            assert message.startswith("cache.path: ") and "is read-only" in message
            assert "not a postgen store" not in message
            assert "delet" not in message.lower()


def test_a_fresh_store_on_a_read_only_filesystem_is_called_read_only(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "mnt", 256) as mnt:
        remount_read_only(mnt)
        with pytest.raises(ConfigError, match=r"cache\.path: .* is read-only"):
            SQLiteStore(mnt / "calls.sqlite")


def test_four_runs_on_one_fresh_store_all_run(tmp_path: Path) -> None:
    store = tmp_path / "fresh" / "calls.sqlite"
    common = ("iterations=3", "votes=1", "top_k=1", "llm.sim.time_scale=0", "quiet=true")
    procs = [
        launch(
            *common,
            f"seed={n}",
            f"cache.path={store}",
            f"hydra.run.dir={tmp_path}/run{n}",
            cwd=tmp_path,
        )
        for n in range(4)
    ]
    outcomes = [(p.wait(timeout=120), p.communicate()[1]) for p in procs]
    assert [code for code, _ in outcomes] == [0] * 4, outcomes
    db = sqlite3.connect(store)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert db.execute("SELECT count(*) FROM calls").fetchone() == (4 * (3 + 3 + 3 + 1),)
    db.close()
