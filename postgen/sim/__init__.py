"""The built-in simulated OpenAI-compatible provider: a real HTTP server on loopback.

`SimServer(config).start()` runs it on a background thread and returns the base URL;
`await serve(config)` runs it inside the current event loop; `python -m postgen.sim` runs it
as a process. Self-contained: it imports nothing else of postgen, so it can stand in for any
server without sharing the client's code.
"""

from __future__ import annotations

from .app import SimApp, serve
from .config import DEFAULT_MODELS, ScheduleStep, SimConfig, parse_schedule
from .profiles import PROFILES, Profile
from .server import SimServer

__all__ = [
    "DEFAULT_MODELS",
    "PROFILES",
    "Profile",
    "ScheduleStep",
    "SimApp",
    "SimConfig",
    "SimServer",
    "parse_schedule",
    "serve",
]
