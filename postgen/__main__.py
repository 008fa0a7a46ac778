"""`python -m postgen [overrides]`: compose the config, validate it, run."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from postgen.app import execute
from postgen.cli import guarded, report_config_error
from postgen.config import load_settings, register_schema
from postgen.errors import ConfigError

_exit_codes: list[int] = []  # one per job; a sweep exits with the worst


@hydra.main(version_base="1.3", config_path="pkg://postgen.conf", config_name="config")
def _job(cfg: DictConfig) -> None:
    try:
        settings = load_settings(cfg)
        code = execute(settings, Path(HydraConfig.get().runtime.output_dir))
    except ConfigError as exc:
        code = report_config_error(exc)
    _exit_codes.append(code)


def main() -> None:
    register_schema()
    code = guarded(_job)
    sys.exit(code or max(_exit_codes, default=0))


if __name__ == "__main__":
    main()
