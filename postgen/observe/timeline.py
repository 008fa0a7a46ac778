"""`timeline.png`: per stage, the concurrency limit and in-flight requests over time, 429s marked.

`TimelineRecorder` is a scheduler Observer that keeps the few numbers the picture needs;
`write_timeline` draws them with matplotlib's Agg canvas (no pyplot, no global backend).
matplotlib is a dependency; where it cannot be imported the picture is skipped with a note.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

from postgen.config import STAGES, Settings
from scheduler import Verdict

__all__ = ["TimelineRecorder", "write_timeline"]

_MAX_POINTS = 200_000  # per series; a very long run keeps its first part rather than all memory


@dataclass
class _Series:
    inflight: list[tuple[float, int]] = field(default_factory=list)
    throttled: list[tuple[float, int]] = field(default_factory=list)  # (t, inflight) at a 429


class TimelineRecorder:
    """Observer: in-flight per stage, the adaptive limit, 429s and cool-downs, timestamped."""

    def __init__(self, initial_limit: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._t0 = clock()
        self.stages = {name: _Series() for name in STAGES}
        self.limit: list[tuple[float, int]] = [(0.0, initial_limit)]
        self.cooldowns: list[tuple[float, float]] = []  # (start, seconds)

    def _now(self) -> float:
        return self._clock() - self._t0

    def _inflight(self, stage: str, inflight: int) -> None:
        points = self.stages[stage].inflight
        if len(points) < _MAX_POINTS:
            points.append((self._now(), inflight))

    def on_limit_change(self, name: str, old: int, new: int, reason: str) -> None:
        if len(self.limit) < _MAX_POINTS:
            self.limit.append((self._now(), new))

    def on_gate(self, name: str, closed: bool, wait_s: float) -> None:
        if closed and len(self.cooldowns) < _MAX_POINTS:
            self.cooldowns.append((self._now(), wait_s))

    def on_dispatch(self, stage: str, inflight: int) -> None:
        self._inflight(stage, inflight)

    def on_complete(self, stage: str, verdict: Verdict, latency_s: float, inflight: int) -> None:
        self._inflight(stage, inflight)
        series = self.stages[stage].throttled
        if verdict.reason == "rate_limited" and len(series) < _MAX_POINTS:
            series.append((self._now(), inflight + 1))

    def on_retry(self, stage: str, attempt: int, reason: str, wait_s: float) -> None:
        pass

    def on_wait(self, stage: str, cause: str, seconds: float) -> None:
        pass

    def elapsed(self) -> float:
        return self._now()


def write_timeline(recorder: TimelineRecorder, settings: Settings, path: Path) -> bool:
    """Draw the timeline into `path`; returns False (and logs why) when it was skipped."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        logger.info("timeline.png skipped: matplotlib cannot be imported (reinstall postgen)")
        return False
    active = [name for name in STAGES if recorder.stages[name].inflight]
    if not active:
        logger.debug("timeline.png skipped: no request was made")
        return False
    try:
        fig = Figure(figsize=(10, 2.2 * len(active) + 0.6), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(len(active), 1, sharex=True, squeeze=False)[:, 0]
        end = recorder.elapsed()
        for ax, name in zip(axes, active, strict=True):
            _draw_stage(ax, recorder, name, settings.stage_concurrency(name), end)
        axes[-1].set_xlabel("seconds since start")
        fig.suptitle("postgen run timeline: concurrency limit, in-flight, 429s")
        fig.savefig(path, dpi=100)
    except Exception as exc:  # a picture must never fail the run
        logger.warning("timeline.png skipped: {}", exc)
        return False
    return True


def _draw_stage(ax: Any, rec: TimelineRecorder, name: str, ceiling: int, end: float) -> None:
    series = rec.stages[name]
    limit = [(t, min(ceiling, v)) for t, v in rec.limit]
    _step(ax, limit, end, color="tab:orange", label="limit")
    _step(ax, series.inflight, end, color="tab:blue", label="in flight")
    for start, seconds in rec.cooldowns:
        ax.axvspan(start, start + seconds, color="tab:red", alpha=0.08, lw=0)
    if series.throttled:
        xs, ys = zip(*series.throttled, strict=True)
        ax.scatter(xs, ys, marker="x", color="tab:red", s=18, label="429", zorder=3)
    ax.set_ylabel(name)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize="small", ncols=3)


def _step(ax: Any, points: list[tuple[float, int]], end: float, **style: Any) -> None:
    xs = [t for t, _ in points] + [end]
    ys = [v for _, v in points] + [points[-1][1]]
    ax.step(xs, ys, where="post", lw=1.2, **style)
