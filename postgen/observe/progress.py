"""Live progress of a run, read from `RunStats` on a timer; and the end-of-stage statistics.

With a terminal on stderr: one rich progress line per stage (done/total, rate, ETA, current
concurrency limit, 429s). Without one: a plain log line every few seconds. `quiet`: nothing.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from loguru import logger
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from postgen.config import STAGES, Settings
from postgen.observe.metrics import initial_limit
from postgen.observe.result import RunResult
from postgen.observe.stats import RunStats

__all__ = ["StageProgress", "log_stage_summaries", "show_progress", "snapshot"]


@dataclass(frozen=True, slots=True)
class StageProgress:
    """One stage at one moment."""

    stage: str
    done: int
    total: int
    rate: float  # items per second since the stage's first request
    eta_s: float | None
    limit: int
    throttled: int
    started: bool

    def line(self) -> str:
        eta = "-" if self.eta_s is None else f"{self.eta_s:.0f}s"
        return (
            f"{self.stage} {self.done}/{self.total} {self.rate:.2f}/s eta {eta} "
            f"limit {self.limit} 429s {self.throttled}"
        )


def snapshot(settings: Settings, stats: RunStats, now: float | None = None) -> list[StageProgress]:
    """Every stage's progress now (`now` on the `time.monotonic` clock RunStats uses)."""
    now = time.monotonic() if now is None else now
    adaptive = stats.limit_changes[-1][1] if stats.limit_changes else initial_limit(settings)
    out, previous = [], None
    for name in _stages(settings):
        st = stats[name]
        total = _expected(settings, name, previous)
        done = st.succeeded + st.failed
        finished = done >= total and st.finished_at is not None
        end = st.finished_at if finished and st.finished_at is not None else now
        elapsed = end - st.started_at if st.started_at is not None else 0.0
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (max(0, total - done) / rate) if rate > 0 else None
        limit = min(settings.stage_concurrency(name), adaptive)
        out.append(
            StageProgress(name, done, total, rate, eta, limit, st.rate_limited, st.requests > 0)
        )
        previous = (st.succeeded, done, total)
    return out


def _stages(settings: Settings) -> tuple[str, ...]:
    return STAGES if settings.synthesis else STAGES[:1]


def _expected(settings: Settings, name: str, previous: tuple[int, int, int] | None) -> int:
    if name == "synthesize":
        return 1
    if previous is None:
        return settings.iterations
    succeeded, done, total = previous
    # Once the stage before has finished, only its successes come here.
    return succeeded if done >= total else total


@contextmanager
def show_progress(
    settings: Settings, stats: RunStats, *, interval_s: float = 5.0, tty: bool | None = None
) -> Iterator[None]:
    """Report progress while the body runs."""
    if settings.quiet:
        yield
        return
    tty = sys.stderr.isatty() if tty is None else tty
    reporter: _Reporter = _RichReporter(settings, stats) if tty else _LogReporter(settings, stats)
    stop = threading.Event()
    period = 0.25 if tty else interval_s
    thread = threading.Thread(
        target=_loop, args=(reporter, stop, period), name="postgen-progress", daemon=True
    )
    reporter.start()
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
        reporter.stop()


class _Reporter:
    def start(self) -> None: ...
    def update(self) -> None: ...
    def stop(self) -> None: ...


def _loop(reporter: _Reporter, stop: threading.Event, period: float) -> None:
    while not stop.wait(period):
        try:
            reporter.update()
        except Exception as exc:  # progress must never break a run
            logger.debug("progress display failed: {}", exc)
            return


class _LogReporter(_Reporter):
    def __init__(self, settings: Settings, stats: RunStats) -> None:
        self._settings, self._stats = settings, stats

    def update(self) -> None:
        parts = [p.line() for p in snapshot(self._settings, self._stats) if p.started]
        if parts:
            logger.info("progress: {}", " | ".join(parts))


class _RichReporter(_Reporter):
    def __init__(self, settings: Settings, stats: RunStats) -> None:
        self._settings, self._stats = settings, stats
        self._progress = Progress(
            TextColumn("{task.description:<10}"),
            BarColumn(bar_width=30),
            TextColumn("{task.completed:>5.0f}/{task.total:<5.0f}"),
            TextColumn("{task.fields[rate]:>7}"),
            TextColumn("eta {task.fields[eta]:>5}"),
            TextColumn("limit {task.fields[limit]:>3}"),
            TextColumn("429s {task.fields[throttled]:>4}"),
            console=Console(stderr=True),
            refresh_per_second=4,
            redirect_stderr=True,
            redirect_stdout=True,
        )
        self._tasks: dict[str, TaskID] = {}

    def start(self) -> None:
        for p in snapshot(self._settings, self._stats):
            self._tasks[p.stage] = self._progress.add_task(
                p.stage, total=p.total, rate="", eta="-", limit=p.limit, throttled=0
            )
        self._progress.start()

    def update(self) -> None:
        for p in snapshot(self._settings, self._stats):
            self._progress.update(
                self._tasks[p.stage],
                completed=p.done,
                total=p.total,
                rate=f"{p.rate:.2f}/s" if p.started else "",
                eta="-" if p.eta_s is None else f"{p.eta_s:.0f}s",
                limit=p.limit,
                throttled=p.throttled,
            )

    def stop(self) -> None:
        self.update()
        self._progress.stop()


def log_stage_summaries(result: RunResult) -> None:
    """The seed's end-of-stage statistics: succeeded/failed, first errors, score range."""
    for name, st in result.stats.stages.items():
        if st.items == 0:
            continue
        logger.info(
            "{}: {}/{} succeeded, {} failed, {} requests, {} 429s, {} retries",
            name,
            st.succeeded,
            st.items,
            st.failed,
            st.requests,
            st.rate_limited,
            st.retries,
        )
        for failure in st.failures[:3]:
            logger.info("{}: item {} failed: {}", name, failure["item"], failure["reason"])
    scores = [s.overall_score for s in result.scores if s is not None]
    if scores:
        spreads = [s.overall_stdev for s in result.scores if s is not None]
        logger.info(
            "scores: {:.2f}..{:.2f} (mean {:.2f}), vote spread up to {:.2f}",
            min(scores),
            max(scores),
            sum(scores) / len(scores),
            max(spreads),
        )
