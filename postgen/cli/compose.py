"""Hydra at the edge: the schema registered for `conf/`, and composed config to typed settings."""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Sequence
from typing import Any

from hydra import compose as hydra_compose
from hydra import initialize_config_module
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException
from hydra.initialize import get_gh_backup, restore_gh_from_backup
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from postgen.cli.argv import quote_free_text
from postgen.cli.errors import describe_config_error, did_you_mean
from postgen.config import Settings, checked
from postgen.errors import ConfigError

_lock = threading.Lock()  # Hydra's global state is one per process

__all__ = ["compose", "load_settings", "register_schema"]


def compose(overrides: Sequence[str] = ()) -> Settings:
    """The packaged conf/ composed with `overrides`, checked as `python -m postgen` checks it.

    Text settings may hold any text (`topic=Миграции, без простоя`). Raises `ConfigError`
    with the same one line the command line prints. Safe inside a running Hydra app.
    """
    register_schema()
    with _lock:
        backup = get_gh_backup()
        GlobalHydra.instance().clear()
        try:
            with initialize_config_module("postgen.conf", version_base="1.3"):
                cfg = hydra_compose(config_name="config", overrides=quote_free_text(overrides))
            return load_settings(cfg)
        except (HydraException, OmegaConfBaseException) as exc:
            key, _, problem = describe_config_error(exc).partition(": ")
            raise ConfigError(key, problem or "invalid") from None
        finally:
            restore_gh_from_backup(backup)


def register_schema() -> None:
    """Make the schema available to `conf/config.yaml` as `postgen_schema`."""
    schema = OmegaConf.structured(Settings)
    # The `criteria` group fills the rubric; a default rubric in the schema would be merged
    # into whichever one the user picks.
    schema.criteria = {}
    ConfigStore.instance().store(name="postgen_schema", node=schema)
    if not OmegaConf.has_resolver("min"):
        # `top_k: ${min:3,${iterations}}` keeps the default valid for small runs.
        OmegaConf.register_new_resolver("min", lambda *xs: min(int(x) for x in xs))


def load_settings(cfg: DictConfig | Settings) -> Settings:
    """Convert a composed config into typed settings and check every range."""
    return checked(cfg if isinstance(cfg, Settings) else _to_settings(cfg))


def _to_settings(cfg: DictConfig) -> Settings:
    try:
        obj: Any = OmegaConf.to_object(cfg)
    except Exception as exc:  # OmegaConf reports type errors lazily, on resolution
        key = getattr(exc, "full_key", None) or "config"
        msg = str(getattr(exc, "msg", exc)).splitlines()[0]
        raise ConfigError(str(key), msg) from None
    if not isinstance(obj, Settings):
        raise ConfigError("config", "does not follow the postgen schema")
    _reject_unknown_keys(obj, "")
    return obj


def _reject_unknown_keys(node: object, prefix: str) -> None:
    # Hydra's `+key=value` adds keys the schema does not know, and they reach the dataclasses.
    # Refuse them, and never echo the value: it may be a key someone typed on the command line.
    if isinstance(node, dict):
        for name, value in node.items():
            _reject_unknown_keys(value, f"{prefix}{name}.")
        return
    if not dataclasses.is_dataclass(node) or isinstance(node, type):
        return
    known = {f.name for f in dataclasses.fields(node)}
    for name in sorted(set(vars(node)) - known):
        secretish = re.search(r"(^|_)(api_?key|key|token|secret|password)$", name.lower())
        hint = "; API keys come from the environment (llm.api_key_env)" if secretish else ""
        hint = hint or did_you_mean(prefix + name)
        raise ConfigError(f"{prefix}{name}", f"is not a postgen setting{hint}")
    for name in known:
        _reject_unknown_keys(getattr(node, name), f"{prefix}{name}.")
