"""From `llm.sim.*` settings to the simulator's own config."""

from __future__ import annotations

from dataclasses import asdict

from postgen.config import Settings
from postgen.errors import ConfigError
from postgen.sim.config import SimConfig, parse_schedule

__all__ = ["sim_config"]


def sim_config(settings: Settings) -> SimConfig:
    """The in-process simulator for this run; its seed is the run's seed."""
    options = asdict(settings.llm.sim)
    schedule_text = options.pop("schedule")
    try:
        schedule = parse_schedule(schedule_text) if schedule_text else ()
        return SimConfig(seed=settings.seed, schedule=schedule, **options)
    except ValueError as exc:
        raise ConfigError("llm.sim", str(exc)) from None
