"""A config file that is not valid YAML is one line: the group, `file:line: problem`."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_cli


def test_a_criteria_file_with_a_yaml_error_names_file_and_line(tmp_path: Path) -> None:
    broken = tmp_path / "conf" / "criteria" / "broken.yaml"
    broken.parent.mkdir(parents=True)
    broken.write_text("hook_strength:\n  weight: 1\n  levels: [low\n  description: x\n")
    proc = run_cli(
        "--config-dir",
        str(tmp_path / "conf"),
        "criteria=broken",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"postgen: config error: criteria: {broken}:4: expected ',' or ']', but got ':'"
    ]
    assert not (tmp_path / "run").exists() and not (tmp_path / ".postgen").exists()
