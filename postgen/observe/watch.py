"""Everything that watches one run, composed once: metrics, exporter, progress, timeline.

`watch_run` is entered before the pipeline starts and left after the outputs are written:

    with watch_run(settings, stats, out_dir) as watch:
        result = asyncio.run(run_async(..., observers=watch.observers, stats=stats))
        watch.finish(result)   # progress off, metrics.prom, timeline.png, push
    # leaving: the exporter lingers `metrics.linger_s` for a last scrape, then stops
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from loguru import logger

from postgen.config import Settings
from postgen.errors import ConfigError
from postgen.observe.metrics import RunMetrics, initial_limit, serve_exporter
from postgen.observe.progress import log_stage_summaries, show_progress
from postgen.observe.result import RunResult
from postgen.observe.stats import RunStats
from postgen.observe.timeline import TimelineRecorder, write_timeline
from scheduler import Observer

__all__ = ["METRICS_FILE", "TIMELINE_FILE", "RunWatch", "exporter_port", "watch_run"]

METRICS_FILE = "metrics.prom"
TIMELINE_FILE = "timeline.png"


class RunWatch:
    """The observers to hand to the pipeline, and what to do when it has finished."""

    def __init__(self, settings: Settings, stats: RunStats, out_dir: Path, sweep_job: int | None):
        self.settings, self.out_dir = settings, out_dir
        self.metrics = RunMetrics(settings, stats, sweep_job=sweep_job)
        self.timeline = TimelineRecorder(initial_limit(settings))
        self.observers: tuple[Observer, ...] = (self.metrics.observer, self.timeline)
        self.exporter_url: str | None = None
        self.finished = False
        self._progress = ExitStack()

    def finish(self, result: RunResult) -> str | None:
        """Stop the progress display; write metrics.prom and timeline.png; push if asked.

        Returns what could not be written (one line for the run's closing report), or None.
        """
        self._progress.close()
        self.finished = True
        log_stage_summaries(result)
        self.metrics.observe_scores(result.scores)
        try:
            self.metrics.write(self.out_dir / METRICS_FILE)
            write_timeline(self.timeline, self.settings, self.out_dir / TIMELINE_FILE)
        except OSError as exc:  # side files: losing them must not lose the run's outcome
            why = f"[Errno {exc.errno}] {exc.strerror}" if exc.errno else str(exc)
            problem: str | None = f"could not write {METRICS_FILE} or {TIMELINE_FILE}: {why}"
        else:
            problem = None
        if self.settings.metrics.pushgateway:
            self.metrics.push(self.settings.metrics.pushgateway)
        return problem


@contextmanager
def watch_run(
    settings: Settings, stats: RunStats, out_dir: Path, *, sweep_job: int | None = None
) -> Iterator[RunWatch]:
    """Metrics (and the exporter, if `metrics.port` is set) and progress for one run.

    `sweep_job` is the job's number in a multirun sweep (a label on its series), else None.
    """
    watch = RunWatch(settings, stats, out_dir, sweep_job)
    m = settings.metrics
    with ExitStack() as stack:
        if m.port is not None:
            port = exporter_port(m.port, sweep_job)
            try:
                watch.exporter_url = stack.enter_context(
                    serve_exporter(watch.metrics.exported, m.addr, port)
                )
            except OSError as exc:
                raise ConfigError(
                    "metrics.port", f"cannot listen on {m.addr}:{port}: {exc}"
                ) from None
            logger.info(
                "metrics exporter on {} (run_id {})",
                watch.exporter_url,
                watch.metrics.identity.run_id,
            )
        watch._progress.enter_context(show_progress(settings, stats))
        try:
            yield watch
        finally:
            watch._progress.close()
            if not watch.finished:  # interrupted or crashed: still leave the numbers behind
                _best_effort_write(watch)
        if watch.exporter_url and m.linger_s > 0:
            logger.info("metrics exporter stays up {:g} s for a last scrape", m.linger_s)
            time.sleep(m.linger_s)


def exporter_port(port: int, sweep_job: int | None) -> int:
    """Port 0 stays 0 (any free port); in a sweep, job N listens on `port + N`."""
    return port + sweep_job if port and sweep_job is not None else port


def _best_effort_write(watch: RunWatch) -> None:
    try:
        watch.metrics.write(watch.out_dir / METRICS_FILE)
    except OSError as exc:
        logger.warning("could not write {}: {}", METRICS_FILE, exc)
