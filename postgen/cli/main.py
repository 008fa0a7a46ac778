"""The Hydra app behind `python -m postgen [overrides]`: compose, validate, run, exit code."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from postgen import __version__
from postgen.cli.argv import HELP, quote_free_text
from postgen.cli.compose import load_settings, register_schema
from postgen.cli.errors import guarded, report_config_error
from postgen.cli.overrides import check_overrides
from postgen.cli.resume import discard_unstarted_run_dir, resume_argv, resumed_settings
from postgen.cli.run import execute
from postgen.cli.sweep import sweep_exit_codes
from postgen.errors import ConfigError

_exit_codes: list[int] = []  # one per job; a sweep exits with the worst
_jobs_started: list[Path] = []


@hydra.main(version_base="1.3", config_path="pkg://postgen.conf", config_name="config")
def _job(cfg: DictConfig) -> None:
    hc = HydraConfig.get()
    out_dir = Path(hc.runtime.output_dir)
    stopped = [c for c in _exit_codes if c in (130, 143)]
    if stopped:  # Ctrl-C or SIGTERM stopped an earlier job of this sweep: stop the sweep
        discard_unstarted_run_dir(out_dir, hc.output_subdir)
        raise SystemExit(stopped[0])
    _jobs_started.append(out_dir)
    try:
        if cfg.get("resume"):
            settings = resumed_settings(str(cfg.resume), list(hc.overrides.task))
        else:
            settings = load_settings(cfg)
        sweep_job = int(hc.job.num) if hc.mode == RunMode.MULTIRUN else None
        code = execute(settings, out_dir, sweep_job=sweep_job, console=True)
    except ConfigError as exc:
        discard_unstarted_run_dir(out_dir, hc.output_subdir)
        code = report_config_error(exc)
    _exit_codes.append(code)


def _entry() -> None:
    check_overrides(sys.argv[1:])  # before Hydra writes anything or turns them into tracebacks
    try:
        _job()
    except OSError as exc:
        if _jobs_started or exc.filename is None:
            raise
        # Hydra could not create the run dir or save its config there: bad input, not a bug.
        raise ConfigError("hydra.run.dir", f"cannot write {exc.filename}: {exc.strerror}") from None


def main() -> None:
    try:
        sys.exit(_main(sys.argv[1:]))
    except BrokenPipeError:  # `--help | head` closed stdout: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)


def _main(args: list[str]) -> int:
    if any(a in ("-h", "--help") for a in args):
        print(HELP, end="")
        return 0
    if any(a in ("-V", "--version") for a in args):
        print(f"postgen {__version__}")
        return 0
    register_schema()
    # Hydra reads sys.argv itself; this is the one place it is handed what to read.
    sys.argv = [sys.argv[0], *quote_free_text(resume_argv(args))]
    code = guarded(_entry)
    return code or max([*_exit_codes, *sweep_exit_codes], default=0)
