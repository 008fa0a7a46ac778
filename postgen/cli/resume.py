"""`resume=<run dir>`: continue an earlier run, with its saved config, into the same directory.

Every finished call of that run is in the store (`cache.path`), so the run replays them and
sends only the rest; the run's files are rewritten when it ends. The saved config is the one
Hydra wrote to `<run dir>/.hydra/config.yaml`; relative paths in it (`cache.path`,
`topic_file`) are taken from the directory the run was started in.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from postgen.cli.compose import load_settings
from postgen.config import Settings
from postgen.errors import ConfigError

__all__ = ["discard_unstarted_run_dir", "resume_argv", "resumed_settings"]


def resume_argv(argv: Sequence[str]) -> list[str]:
    """With `resume=DIR`, make Hydra run in DIR and leave DIR's saved `.hydra/` untouched."""
    args = list(argv)
    given = [a.split("=", 1)[1] for a in args if a.startswith("resume=")]
    if not given or not given[-1] or given[-1] == "null":
        return args
    if not (Path(given[-1]).expanduser() / ".hydra" / "config.yaml").is_file():
        return args  # not a run dir: `resumed_settings` says so, and nothing is created there
    if not any(a.startswith(("hydra.run.dir=", "hydra.output_subdir=")) for a in args):
        args += [f"hydra.run.dir={given[-1]}", "hydra.output_subdir=null"]
    return args


def resumed_settings(run_dir: str, overrides: Sequence[str]) -> Settings:
    """The settings `run_dir` was started with, checked as on a fresh start."""
    ignored = [o for o in overrides if not o.startswith(("resume=", "hydra."))]
    if ignored:
        raise ConfigError("resume", f"continues with the run's saved config; drop {ignored[0]}")
    root = Path(run_dir).expanduser()
    saved = root / ".hydra" / "config.yaml"
    if not saved.is_file():
        raise ConfigError("resume", f"{root} is not a postgen run dir (no .hydra/config.yaml)")
    try:
        cfg = OmegaConf.merge(OmegaConf.structured(Settings), OmegaConf.load(saved))
    except Exception as exc:  # a damaged or foreign file: one line, not a traceback
        raise ConfigError("resume", f"cannot read {saved}: {str(exc).splitlines()[0]}") from None
    assert isinstance(cfg, DictConfig)
    started_in = _started_in(root)
    for key in ("cache.path", "topic_file"):
        value = OmegaConf.select(cfg, key)
        if value and started_in is not None and not Path(value).expanduser().is_absolute():
            OmegaConf.update(cfg, key, str(started_in / value))
    settings = load_settings(cfg)
    settings.resume = str(root)
    return settings


def discard_unstarted_run_dir(out_dir: Path, hydra_subdir: str | None) -> None:
    """Remove what Hydra wrote for a job rejected before it started: nothing is half-written."""
    # Only a directory holding nothing but what Hydra just saved; never one the user made.
    if out_dir.is_dir() and hydra_subdir and {p.name for p in out_dir.iterdir()} == {hydra_subdir}:
        shutil.rmtree(out_dir / hydra_subdir, ignore_errors=True)
        _remove_empty_dirs(out_dir, stop_at=Path.cwd())


def _remove_empty_dirs(path: Path, *, stop_at: Path) -> None:
    """Remove `path` and its parents below `stop_at` while they are empty (e.g. outputs/DATE)."""
    path, stop_at = path.resolve(), stop_at.resolve()
    while path != stop_at and stop_at in path.parents:
        try:
            path.rmdir()  # only succeeds on an empty directory
        except OSError:
            return
        path = path.parent


def _started_in(root: Path) -> Path | None:
    try:
        cwd = OmegaConf.select(OmegaConf.load(root / ".hydra" / "hydra.yaml"), "hydra.runtime.cwd")
    except Exception:
        return None
    return Path(cwd) if cwd else None
