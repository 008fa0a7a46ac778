"""The profile flags of `python -m postgen.sim` map onto `SimConfig`."""

from __future__ import annotations

import pytest

from postgen.sim import SimConfig
from postgen.sim.cli import build_parser, config_from_args


def _config(*argv: str) -> SimConfig:
    return config_from_args(build_parser().parse_args(list(argv)))


def test_profile_flags() -> None:
    config = _config(
        "--profile", "llamacpp", "--n-ctx", "4096", "--queue", "-1", "--no-schemaless-drops-fields",
        "--batch-slowdown", "0.1", "--rpm", "60",
    )  # fmt: skip
    assert config.profile == "llamacpp" and config.n_ctx == 4096 and config.queue == -1
    assert config.schemaless_drops_fields is False and config.batch_slowdown == 0.1
    assert config.rpm == 60
    default = _config()
    assert default.profile == "sim" and default.queue is None and default.capacity is None
    assert default.schemaless_drops_fields is None and default.n_ctx is None


def test_unknown_profile_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["--profile", "nope"])
    assert info.value.code == 2
    assert "--profile" in capsys.readouterr().err
