"""Live progress: per-stage numbers from RunStats; rich with a TTY, plain log lines without."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from loguru import logger

from postgen.observe.logs import LOG_FILE, run_logging
from postgen.observe.progress import show_progress, snapshot
from postgen.observe.stats import RunStats
from tests.conftest import settings_for


def _stats() -> RunStats:
    stats = RunStats()
    st = stats["candidates"]
    st.started_at = 100.0
    st.items, st.succeeded, st.requests, st.rate_limited = 6, 4, 7, 2
    st.record_item("5", RuntimeError("x"))
    stats.limit_changes.append((101.0, 3))
    return stats


def test_snapshot_numbers() -> None:
    settings = settings_for("parallel=true", "iterations=10", "concurrency=8")
    rows = {p.stage: p for p in snapshot(settings, _stats(), now=105.0)}
    cand = rows["candidates"]
    assert (cand.done, cand.total, cand.throttled, cand.limit) == (5, 10, 2, 3)
    assert cand.rate == pytest.approx(1.0)
    assert cand.eta_s == pytest.approx(5.0)
    assert rows["synthesize"].total == 1
    assert not rows["extract"].started and rows["extract"].eta_s is None
    assert "candidates 5/10" in cand.line() and "429s 2" in cand.line()


def test_without_synthesis_only_candidates_are_shown() -> None:
    settings = settings_for("synthesis=false")
    assert [p.stage for p in snapshot(settings, RunStats())] == ["candidates"]


@pytest.mark.usefixtures("postgen_logs")
def test_plain_progress_lines_without_a_tty(tmp_path: Path) -> None:
    settings = settings_for("parallel=true", "iterations=10")
    stats = _stats()
    stats["candidates"].started_at = time.monotonic() - 1
    with (
        run_logging(tmp_path, "INFO", quiet=False),
        show_progress(settings, stats, interval_s=0.05, tty=False),
    ):
        time.sleep(0.3)
    assert "progress: candidates 5/10" in (tmp_path / LOG_FILE).read_text(encoding="utf-8")


def test_quiet_silences_progress(tmp_path: Path) -> None:
    settings = settings_for("quiet=true")
    with (
        run_logging(tmp_path, "INFO", quiet=True),
        show_progress(settings, _stats(), interval_s=0.05, tty=False),
    ):
        time.sleep(0.2)
    assert "progress:" not in (tmp_path / LOG_FILE).read_text(encoding="utf-8")


@pytest.mark.usefixtures("postgen_logs")
def test_rich_display_with_a_tty_keeps_logging_working(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for("parallel=true", "iterations=10")
    console = run_logging(tmp_path, "INFO", quiet=False, console=True)
    with console, show_progress(settings, _stats(), tty=True):
        logger.info("a log line while the bars are up")
        time.sleep(0.4)
    err = capsys.readouterr().err
    assert "candidates" in err and "429s" in err
    assert "a log line while the bars are up" in err
