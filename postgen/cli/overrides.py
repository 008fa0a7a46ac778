"""Command-line overrides checked before Hydra sees them.

Hydra turns some bad values into tracebacks (`criteria=1`: "Config group override must be a
string"), others into silent surprises (`parallel=2` becomes true), and writes the run dir
before postgen can check anything (`hydra.run.dir=<an earlier run>` overwrote that run).
So the edge parses each override with Hydra's own grammar first and refuses, in one line
naming the key: a value that does not parse, a config-group choice that is not a name, a
boolean that is not true/false, an empty `hydra.run.dir`, and a run dir that already holds
another run's files (unless `resume=` names it, or `overwrite=true`).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException

from postgen.config import Settings
from postgen.errors import ConfigError

__all__ = ["CONFIG_GROUPS", "RUN_FILES", "check_overrides"]

# postgen's config groups (conf/<group>/): their value names an option file.
CONFIG_GROUPS = frozenset({"criteria", "experiment", "llm", "scheduler"})
# Hydra's command-line flags that take a value (the value is no override).
_FLAGS_WITH_VALUE = frozenset(
    {
        *("--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd"),
        *("--package", "-p", "--cfg", "-c", "--shell-completion", "-sc"),
        "--experimental-rerun",
    }
)
# The outputs a run leaves in its directory: one of them there means the directory is taken.
# (A run killed before its end leaves none of them, so the same command may go on there.)
RUN_FILES = ("run.json", "post.md", "candidates.jsonl", "cards.jsonl", "scores.jsonl")


def check_overrides(argv: Sequence[str]) -> None:
    """Refuse, with one `ConfigError`, the first override that would not run as meant."""
    parsed = [_parse(text) for text in _override_texts(argv)]
    for override in parsed:
        _check_one(override)
    _check_run_dir(parsed)


def _override_texts(argv: Sequence[str]) -> Iterator[str]:
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _FLAGS_WITH_VALUE:
            skip = True
        elif not arg.startswith("-") and ("=" in arg or arg.startswith("~")):
            yield arg  # every override has a `=`, but a deletion (`~key`)


def _parse(text: str) -> Override:
    try:
        return OverridesParser.create().parse_override(text)
    except HydraException as exc:
        key = text.split("=", 1)[0].lstrip("+~") or text
        message = str(exc).splitlines()[0] if str(exc) else "cannot be parsed"
        raise ConfigError(key, f"is not a valid override ({message})") from None


def _check_one(override: Override) -> None:
    if override.is_delete():
        return
    key = override.key_or_group
    values = list(_values(override))
    if key in CONFIG_GROUPS and override.package is None:
        for value in values:
            if not isinstance(value, str) or not value.strip():
                got = "null" if value is None else repr(value)
                raise ConfigError(key, f"must name one of the {key} options (got {got})")
    elif key in _boolean_keys():
        for value in values:
            if not isinstance(value, bool) and not _interpolated(value):
                raise ConfigError(key, f"must be true or false (got {value!r})")
    elif key == "hydra.run.dir" and values == [""]:
        raise ConfigError(key, "is empty; give the directory the run writes to")


def _values(override: Override) -> Iterator[Any]:
    if override.is_sweep_override():
        yield from override.sweep_iterator()
    else:
        yield override.value()


def _interpolated(value: object) -> bool:
    return isinstance(value, str) and "${" in value


def _check_run_dir(parsed: list[Override]) -> None:
    given = {o.key_or_group: o.value() for o in parsed if not o.is_sweep_override()}
    run_dir = given.get("hydra.run.dir")
    if not isinstance(run_dir, str) or not run_dir or _interpolated(run_dir):
        return  # Hydra's default (a new, timestamped directory) or one it resolves itself
    path = Path(run_dir).expanduser()
    taken = [name for name in RUN_FILES if (path / name).exists()]
    if not taken:
        return
    resume = given.get("resume")
    if isinstance(resume, str) and resume and _same(Path(resume).expanduser(), path):
        return
    if given.get("overwrite") is True:
        return
    raise ConfigError(
        "hydra.run.dir",
        f"{path} holds another run's files ({taken[0]}); resume={path} continues that run,"
        " overwrite=true replaces it, or give a new directory",
    )


def _same(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def _boolean_keys() -> frozenset[str]:
    return frozenset(_bool_paths(Settings, ""))


def _bool_paths(cls: type, prefix: str) -> Iterator[str]:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if hint is bool:
            yield prefix + f.name
        elif dataclasses.is_dataclass(hint) and isinstance(hint, type):
            yield from _bool_paths(hint, f"{prefix}{f.name}.")
