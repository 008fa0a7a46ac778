"""One command-line run: typed settings in, files in the run dir and an exit code out."""

from __future__ import annotations

import asyncio
from pathlib import Path

from loguru import logger

from postgen.cli.outputs import OutputsNotWritten, check_writable, write_outputs
from postgen.cli.signals import Interrupts
from postgen.config import Settings
from postgen.engine.session import call_store, open_endpoint, run_async
from postgen.llm import api_key_from_env
from postgen.observe.logs import Redactor, run_logging
from postgen.observe.report import summary_table
from postgen.observe.result import RunResult
from postgen.observe.stats import RunStats
from postgen.observe.watch import watch_run

__all__ = ["execute"]


def execute(
    settings: Settings, out_dir: Path, *, sweep_job: int | None = None, console: bool = False
) -> int:
    """Run the pipeline, write every output, log the summary; returns the exit code.

    `sweep_job`: this job's number when a multirun sweep runs it (labels its metrics).
    `console`: the command line's mode, which owns stderr (see `run_logging`); without it the
    host program's loguru sinks are left as they are.
    """
    api_key = api_key_from_env(settings.llm.api_key_env, required=settings.llm.api_key_required)
    check_writable(out_dir)  # bad input fails above, before the run writes anything
    # One redaction for everything that leaves the process: log lines, the store, the outputs.
    redact = Redactor()
    redact.add(api_key)
    problems: list[str] = []  # what could not be written; said once, in the closing line
    with (
        call_store(settings, redact=redact) as store,
        run_logging(
            out_dir,
            settings.log_level,
            quiet=settings.quiet,
            console=console,
            redact=redact,
            problems=problems,
        ),
    ):
        logger.info("run dir: {}", out_dir)
        if store is not None:
            logger.info("call store: {} ({} finished calls)", store.path, len(store))
        stats = RunStats()
        interrupts = Interrupts()
        # Leaving `watch_run` lingers for a last scrape (`metrics.linger_s`), after the summary.
        with watch_run(settings, stats, out_dir, sweep_job=sweep_job) as watch:
            with open_endpoint(settings, api_key) as endpoint:
                work = run_async(
                    settings, endpoint, observers=watch.observers, stats=stats, store=store
                )
                result = asyncio.run(interrupts.run(work))
            if interrupts.signum is not None:
                result.notes.append(f"interrupted by {interrupts.name}")
            code = _exit_code(result, interrupts)
            try:  # first: the post matters most
                write_outputs(result, out_dir, exit_code=code, redact=redact.value)
            except OutputsNotWritten as exc:
                problems.insert(0, str(exc))
                code = code or 1
            if (side := watch.finish(result)) is not None:
                problems.append(side)
            logger.info("summary\n{}", summary_table(result))
            _closing_line(result, out_dir, problems)
            if interrupts.exit_code is not None:
                logger.warning("interrupted: partial results are in {}", out_dir)
            return code


def _closing_line(result: RunResult, out_dir: Path, problems: list[str]) -> None:
    """The run's outcome in one line: a failure and every file it could not write, together."""
    if result.error:
        logger.error("run failed: {}", "; ".join([result.error, *problems]))
    elif problems:
        logger.error("{}", "; ".join(problems))
    elif result.post is not None:
        logger.success("post written: {}", out_dir / "post.md")
    elif not result.produced and result.stopped is None:
        logger.error("run failed: {}", _why_nothing(result))


def _why_nothing(result: RunResult) -> str:
    """Why a run that ran to its end produced nothing (each item's failure was logged)."""
    synthesis = result.stats.stages.get("synthesize")
    if synthesis is not None and synthesis.failures:
        return f"synthesis failed: {synthesis.failures[-1]['reason']}"
    if result.notes:
        return "; ".join(result.notes)
    return "every candidate failed (their reasons are in run.json)"


def _exit_code(result: RunResult, interrupts: Interrupts) -> int:
    if interrupts.exit_code is not None:
        return interrupts.exit_code
    return 0 if result.status in ("ok", "partial") and result.produced else 1
