"""The sweep report: after a multirun, one table of every job's `run.json`.

`SweepReport` is a Hydra callback (registered in conf/config.yaml). On `on_multirun_end` it
reads each job's overrides and run.json and writes into the sweep dir:

- `sweep.csv` — one row per job: the swept values, status, wall time, requests/s, 429 fraction,
  retries, failed items, and which row is best;
- `sweep.md` — the same as a Markdown table, the best row marked ★;
- `sweep.png` — wall time and 429 fraction against the swept value (needs matplotlib).

Best = the fewest failed items, then the shortest wall time, among jobs that wrote a post.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from loguru import logger
from omegaconf import DictConfig, OmegaConf

from postgen.cli.ledger import note_codes

__all__ = ["JobRow", "SweepReport", "collect_jobs", "swept_keys", "write_report"]

_USABLE = ("ok", "partial")


@dataclass
class JobRow:
    """One job of a sweep, as its run.json tells it."""

    job: str
    values: dict[str, str]
    status: str = "missing"
    wall_s: float | None = None
    requests: int = 0
    rate_limited: int = 0
    retries: int = 0
    failed: int = 0
    replayed: int = 0
    best: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    recorded_exit: int | None = None

    @property
    def exit_code(self) -> int:
        """The job's exit code as run.json recorded it, else as its status implies."""
        return self.recorded_exit if self.recorded_exit is not None else exit_code_for(self.status)

    @property
    def requests_per_s(self) -> float | None:
        if not self.wall_s:
            return None
        return self.requests / self.wall_s

    @property
    def mostly_replayed(self) -> bool:
        """Most calls came from the store: its timing says nothing about the endpoint."""
        return self.replayed > self.requests

    @property
    def frac_429(self) -> float | None:
        return self.rate_limited / self.requests if self.requests else None


_EXIT_CODES = {"ok": 0, "partial": 0, "failed": 1, "no output": 2, "interrupted": 130}


def exit_code_for(status: str) -> int:
    """The exit code a job with this run.json status had (1 when unknown)."""
    return _EXIT_CODES.get(status, 1)


class SweepReport(Callback):
    """Writes sweep.csv, sweep.md and sweep.png into the sweep dir when a multirun ends."""

    def __init__(self, plot: bool = True) -> None:
        self.plot = plot

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        hints = _sweep_hints(config)
        try:
            rows = write_report(sweep_dir, hints, plot=self.plot, expected=_expected_jobs(config))
        except Exception as exc:  # a report must never turn a finished sweep into a failure
            logger.warning("sweep report failed: {}: {}", type(exc).__name__, exc)
            return
        # Jobs may have run in other processes (joblib): their exit codes are known only here.
        note_codes(r.exit_code for r in rows)
        if rows:
            print(f"\nsweep report: {sweep_dir / 'sweep.md'}\n", file=sys.stderr)
            print(render_markdown(rows, swept_keys(rows, hints)), file=sys.stderr)


def write_report(
    sweep_dir: Path,
    hints: Sequence[str] = (),
    *,
    plot: bool = True,
    expected: Sequence[Sequence[str]] | None = None,
) -> list[JobRow]:
    """Read every job under `sweep_dir` and write the three report files; returns the rows.

    `expected` lists every job's overrides: a job that left no run dir (rejected config,
    crash before it started) still gets a row, with status "no output".
    """
    rows = collect_jobs(sweep_dir)
    seen = [r.values for r in rows]
    for job in expected or ():
        if _parse(job) not in seen:
            rows.append(JobRow(job="", values=_parse(job), status="no output"))
    if not rows:
        logger.warning("sweep report: no jobs found under {}", sweep_dir)
        return rows
    keys = swept_keys(rows, hints)
    rows.sort(key=lambda r: ([_sort_key(r.values.get(k, "")) for k in keys], _sort_key(r.job)))
    _mark_best(rows)
    (sweep_dir / "sweep.csv").write_text(render_csv(rows, keys), encoding="utf-8")
    (sweep_dir / "sweep.md").write_text(
        f"# Sweep {sweep_dir}\n\n{render_markdown(rows, keys)}", encoding="utf-8"
    )
    if plot:
        write_plot(rows, keys, sweep_dir / "sweep.png")
    return rows


def collect_jobs(sweep_dir: Path) -> list[JobRow]:
    """One row per job dir (a dir with `.hydra/overrides.yaml`), with or without run.json."""
    rows = []
    for overrides_file in sorted(sweep_dir.glob("**/.hydra/overrides.yaml")):
        job_dir = overrides_file.parent.parent
        overrides = yaml.safe_load(overrides_file.read_text(encoding="utf-8")) or []
        row = JobRow(job=job_dir.relative_to(sweep_dir).as_posix(), values=_parse(overrides))
        run_json = job_dir / "run.json"
        if run_json.is_file():
            _fill(row, json.loads(run_json.read_text(encoding="utf-8")))
        rows.append(row)
    return rows


def swept_keys(rows: Sequence[JobRow], hints: Sequence[str] = ()) -> list[str]:
    """The keys the sweep varied: the sweeper's own, then any whose value differs by job."""
    keys = [k for k in hints if any(k in r.values for r in rows)]
    for row in rows:
        for key in row.values:
            if key not in keys and len({r.values.get(key) for r in rows}) > 1:
                keys.append(key)
    return keys


def render_csv(rows: Sequence[JobRow], keys: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "job",
            *keys,
            "status",
            "wall_s",
            "requests",
            "requests_per_s",
            "rate_limited",
            "frac_429",
            "retries",
            "failed_items",
            "replayed",
            "best",
        ]
    )
    for r in rows:
        writer.writerow(
            [
                r.job,
                *(r.values.get(k, "") for k in keys),
                r.status,
                _fmt(r.wall_s, 3),
                r.requests,
                _fmt(r.requests_per_s, 3),
                r.rate_limited,
                _fmt(r.frac_429, 4),
                r.retries,
                r.failed,
                r.replayed,
                int(r.best),
            ]
        )
    return out.getvalue()


def render_markdown(rows: Sequence[JobRow], keys: Sequence[str]) -> str:
    head = ["best", *keys, "status", "wall s", "req/s", "429 fraction", "retries", "failed items"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [
            "★" if r.best else "",
            *(r.values.get(k, "") for k in keys),
            r.status + (" (replayed)" if r.mostly_replayed else ""),
            _fmt(r.wall_s, 2),
            _fmt(r.requests_per_s, 1),
            _fmt(r.frac_429, 3),
            str(r.retries),
            str(r.failed),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    best = next((r for r in rows if r.best), None)
    if best is not None:
        chosen = ", ".join(f"{k}={best.values.get(k, '')}" for k in keys) or best.job
        lines += ["", f"Best: {chosen} (fewest failed items, then shortest wall time)."]
    if any(r.mostly_replayed for r in rows):
        lines += [
            "",
            "(replayed): most of that job's calls came from the call store, so its timing is "
            "not the endpoint's and it is not ranked. Sweep with cache.enabled=false to measure.",
        ]
    return "\n".join(lines) + "\n"


def write_plot(rows: Sequence[JobRow], keys: Sequence[str], path: Path) -> bool:
    """sweep.png: wall time and 429 fraction against the swept value; False without matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        logger.warning("sweep.png skipped: matplotlib cannot be imported (reinstall postgen)")
        return False
    shown = [r for r in rows if r.wall_s is not None]
    xs, label, numeric = _x_axis(shown, keys)
    fig = Figure(figsize=(7, 6), layout="constrained")
    wall_ax, frac_ax = fig.subplots(2, 1, sharex=True)
    wall_ax.plot(xs, [r.wall_s for r in shown], marker="o")
    wall_ax.set_ylabel("wall time (s)")
    frac_ax.plot(xs, [r.frac_429 or 0.0 for r in shown], marker="o", color="tab:red")
    frac_ax.set_ylabel("429 fraction")
    frac_ax.set_xlabel(label)
    for x, r in zip(xs, shown, strict=True):
        if r.best:
            wall_ax.plot([x], [r.wall_s], marker="*", markersize=16, color="gold", zorder=3)
    if numeric and _log_scale(xs):
        frac_ax.set_xscale("log", base=2)
    if numeric:
        frac_ax.set_xticks(xs, [r.values.get(keys[0], "") for r in shown])
    else:
        frac_ax.tick_params(axis="x", labelrotation=30)
    wall_ax.set_title("postgen sweep")
    fig.savefig(path, dpi=100)
    return True


def _x_axis(rows: Sequence[JobRow], keys: Sequence[str]) -> tuple[list[Any], str, bool]:
    if len(keys) == 1:
        numbers = [_number(r.values.get(keys[0], "")) for r in rows]
        if all(n is not None for n in numbers):
            return numbers, keys[0], True
    labels = [", ".join(f"{k}={r.values.get(k, '')}" for k in keys) or r.job for r in rows]
    return labels, ", ".join(keys) or "job", False


def _log_scale(xs: Sequence[float]) -> bool:
    return bool(xs) and min(xs) > 0 and max(xs) / min(xs) >= 8


def _fill(row: JobRow, doc: dict[str, Any]) -> None:
    row.status = str(doc.get("status", "unknown"))
    code = doc.get("exit_code")
    row.recorded_exit = code if isinstance(code, int) else None
    wall = doc.get("wall_seconds")
    row.wall_s = float(wall) if isinstance(wall, int | float) else None
    for stage in (doc.get("stages") or {}).values():
        row.requests += int(stage.get("requests", 0))
        row.rate_limited += int(stage.get("rate_limited", 0))
        row.retries += int(stage.get("retries", 0))
        row.replayed += int(stage.get("cached", 0))
        failed = stage.get("failed", 0)
        row.failed += len(failed) if isinstance(failed, list) else int(failed)


def _mark_best(rows: Sequence[JobRow]) -> None:
    # A mostly replayed job was fast because it sent nothing: never rank it by speed.
    usable = [
        r for r in rows if r.status in _USABLE and r.wall_s is not None and not r.mostly_replayed
    ]
    if usable:
        min(usable, key=lambda r: (r.failed, r.wall_s or math.inf)).best = True


def _parse(overrides: Iterable[str]) -> dict[str, str]:
    values = {}
    for item in overrides:
        key, sep, value = str(item).partition("=")
        if sep:
            values[key.lstrip("+~")] = value
    return values


def _expected_jobs(config: DictConfig) -> list[list[str]] | None:
    """Every job's overrides, expanded as Hydra's basic sweeper does; None for other sweepers."""
    target = str(OmegaConf.select(config, "hydra.sweeper._target_") or "")
    if not target.endswith("BasicSweeper"):
        return None
    params = OmegaConf.select(config, "hydra.sweeper.params") or {}
    arguments = [f"{k}={v}" for k, v in params.items()]
    arguments += list(OmegaConf.select(config, "hydra.overrides.task") or [])
    try:
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

        parsed = OverridesParser.create().parse_overrides(arguments)
        batches = BasicSweeper.split_arguments(parsed, None)
    except Exception:  # the rows found on disk still make a report
        return None
    return [list(job) for batch in batches for job in batch]


def _sweep_hints(config: DictConfig) -> list[str]:
    """Keys swept on the command line (`a=1,2`) or by `hydra.sweeper.params`."""
    keys: list[str] = []
    params = OmegaConf.select(config, "hydra.sweeper.params")
    if params:
        keys += [str(k).lstrip("+~") for k in params]
    task = list(OmegaConf.select(config, "hydra.overrides.task") or [])
    try:
        parsed = OverridesParser.create().parse_overrides(task)
    except Exception:  # hints only: the rows still say what varied
        parsed = []
    keys += [o.get_key_element().lstrip("+~") for o in parsed if o.is_sweep_override()]
    return list(dict.fromkeys(keys))


def _sort_key(text: str) -> tuple[int, float, str]:
    number = _number(text)
    return (0, number, "") if number is not None else (1, 0.0, text)


def _number(text: str) -> float | None:
    if re.fullmatch(r"[-+]?\d+(\.\d*)?([eE][-+]?\d+)?", text.strip()):
        return float(text)
    return None


def _fmt(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"
