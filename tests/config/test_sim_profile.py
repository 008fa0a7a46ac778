"""`llm.sim.profile` and the simulator options a profile gives defaults for."""

from __future__ import annotations

import pytest

from postgen.config.settings import SIM_PROFILES
from postgen.engine.simulator import sim_config
from postgen.errors import ConfigError
from postgen.sim.profiles import PROFILES
from tests.conftest import settings_for


def test_config_knows_every_simulator_profile() -> None:
    assert tuple(PROFILES) == SIM_PROFILES


def test_profile_and_limits_reach_the_simulator() -> None:
    settings = settings_for("llm.sim.profile=llamacpp", "llm.sim.n_ctx=4096", "llm.sim.queue=-1")
    config = sim_config(settings)
    assert config.profile == "llamacpp" and config.n_ctx == 4096 and config.queue == -1
    default = sim_config(settings_for())
    assert default.profile == "sim" and default.queue is None and default.n_ctx is None
    assert default.rate_burst_s == 10.0
    assert sim_config(settings_for("llm.sim.rate_burst_s=1")).rate_burst_s == 1.0


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("llm.sim.profile=nope", "llm.sim.profile"),
        ("llm.sim.queue=-2", "llm.sim.queue"),
        ("llm.sim.n_ctx=-1", "llm.sim.n_ctx"),
        ("llm.sim.batch_slowdown=11", "llm.sim.batch_slowdown"),
        ("llm.sim.rate_burst_s=0", "llm.sim.rate_burst_s"),
    ],
)
def test_bad_simulator_options_name_the_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings_for(override)
    assert info.value.key == key
