"""The Hydra app behind `python -m postgen [overrides]`: compose, validate, run, exit code."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from postgen import __version__
from postgen.cli.argv import HELP, quote_free_text
from postgen.cli.compose import load_settings, register_schema
from postgen.cli.errors import guarded, report_config_error
from postgen.cli.ledger import Ledger, recording
from postgen.cli.overrides import check_overrides
from postgen.cli.resume import discard_unstarted_run_dir, resume_argv, resumed_settings
from postgen.cli.run import execute
from postgen.errors import ConfigError


def _hydra_app(ledger: Ledger) -> Callable[[], None]:
    """The Hydra app for one invocation; each job's exit code goes into `ledger`."""

    @hydra.main(version_base="1.3", config_path="pkg://postgen.conf", config_name="config")
    def postgen_job(cfg: DictConfig) -> None:
        ledger.codes.append(_run_job(cfg, ledger))

    return postgen_job  # type: ignore[no-any-return]


def _run_job(cfg: DictConfig, ledger: Ledger) -> int:
    hc = HydraConfig.get()
    out_dir = Path(hc.runtime.output_dir)
    if ledger.signalled is not None:  # Ctrl-C or SIGTERM stopped an earlier job of the sweep
        discard_unstarted_run_dir(out_dir, hc.output_subdir)
        raise SystemExit(ledger.signalled)
    ledger.started.append(out_dir)
    try:
        if cfg.get("resume"):
            settings = resumed_settings(str(cfg.resume), list(hc.overrides.task))
        else:
            settings = load_settings(cfg)
        sweep_job = int(hc.job.num) if hc.mode == RunMode.MULTIRUN else None
        return execute(settings, out_dir, sweep_job=sweep_job, console=True)
    except ConfigError as exc:
        discard_unstarted_run_dir(out_dir, hc.output_subdir)
        return report_config_error(exc)


def _entry(ledger: Ledger) -> None:
    check_overrides(sys.argv[1:])  # before Hydra writes anything or turns them into tracebacks
    try:
        _hydra_app(ledger)()
    except OSError as exc:
        if ledger.started or exc.filename is None:
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
    with recording() as ledger:
        code = guarded(lambda: _entry(ledger))
    return code or ledger.exit_code
