"""The command line's edge: Hydra errors and bad input become one line and exit code 2."""

from __future__ import annotations

import dataclasses
import difflib
import os
import sys
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import get_type_hints

import yaml
from hydra.errors import HydraException, MissingConfigException
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from postgen.cli.overrides import CONFIG_GROUPS
from postgen.config import Settings
from postgen.errors import ConfigError

__all__ = ["describe_config_error", "guarded", "report_config_error"]

EXIT_BAD_INPUT = 2


def guarded(entry: Callable[[], int | None]) -> int:
    """Run `entry`, turning configuration errors into one line on stderr and exit code 2."""
    user_wants_traceback = os.environ.get("HYDRA_FULL_ERROR") == "1"
    # Let Hydra's errors reach us instead of being printed as multi-line reports.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        return entry() or 0
    except (ConfigError, HydraException, OmegaConfBaseException, yaml.YAMLError) as exc:
        if user_wants_traceback:
            raise
        return report_config_error(exc)
    except KeyboardInterrupt:
        print("postgen: interrupted", file=sys.stderr)
        return 130
    finally:
        if not user_wants_traceback:
            os.environ.pop("HYDRA_FULL_ERROR", None)


def report_config_error(exc: BaseException) -> int:
    """Print the one line for a configuration error; returns exit code 2."""
    print(f"postgen: config error: {describe_config_error(exc)}", file=sys.stderr)
    return EXIT_BAD_INPUT


def describe_config_error(exc: BaseException) -> str:
    """One line naming the key and what is wrong with it."""
    if isinstance(exc, ConfigError):
        return str(exc)
    if isinstance(exc, MissingConfigException):
        return _missing_option(exc)
    if isinstance(exc, yaml.YAMLError):
        return _yaml_error(exc)
    omega = _find_omegaconf_error(exc)
    if omega is not None:
        key = getattr(omega, "full_key", None)
        msg = _first_line(str(getattr(omega, "msg", None) or omega))
        if isinstance(omega, ConfigKeyError | ConfigAttributeError) and key:
            msg = f"is not a postgen setting{did_you_mean(str(key))}"
        return f"{key}: {msg}" if key else msg
    return _first_line(str(exc))


def did_you_mean(key: str) -> str:
    """`; did you mean iterations?` for a near miss of a known key, else ""."""
    close = difflib.get_close_matches(key, _known_keys(), n=1, cutoff=0.75)
    return f"; did you mean {close[0]}?" if close else ""


@cache
def _known_keys() -> list[str]:
    return list(_dotted(Settings, ""))


def _dotted(cls: type, prefix: str) -> Iterator[str]:
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        yield prefix + f.name
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint) and isinstance(hint, type):
            yield from _dotted(hint, f"{prefix}{f.name}.")


def _yaml_error(exc: yaml.YAMLError) -> str:
    """`group: file:line: problem` for a config file that is not valid YAML."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or _first_line(str(exc))
    if mark is None:
        return f"config: not valid YAML: {problem}"
    where = Path(str(mark.name))
    # conf/<group>/<option>.yaml: the key is the group the file is an option of.
    key = where.parent.name if where.parent.name in CONFIG_GROUPS else "config"
    return f"{key}: {where}:{mark.line + 1}: {problem}"


def _missing_option(exc: MissingConfigException) -> str:
    missing = exc.missing_cfg_file or ""
    group, _, option = missing.rpartition("/")
    options = ", ".join(sorted(exc.options or []))
    if group:
        hint = f" (available: {options})" if options else ""
        return f"{group}: no option {option!r}{hint}"
    return _first_line(str(exc))


def _find_omegaconf_error(exc: BaseException) -> OmegaConfBaseException | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OmegaConfBaseException):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[0] if lines else "invalid configuration"
