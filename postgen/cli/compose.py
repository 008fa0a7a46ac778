"""Hydra at the edge: the schema registered for `conf/`, and composed config to typed settings."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from postgen.cli.errors import did_you_mean
from postgen.config import Settings, checked
from postgen.errors import ConfigError

__all__ = ["load_settings", "register_schema"]


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
