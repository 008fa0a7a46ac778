"""Every case of the bad-input table (tests/cli/bad_inputs.py), as a user would type it:
exit 2, one line on stderr naming the key, no traceback, nothing written, no hang."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.cli.bad_inputs import CASES, KEY, KEY_ENV, Case, prepare, snapshot
from tests.conftest import run_cli


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_naming_the_key_and_writes_nothing(
    case: Case, tmp_path: Path
) -> None:
    prepare(tmp_path)
    before = snapshot(tmp_path)
    argv = [a.replace("{work}", str(tmp_path)) for a in case.args]
    if not any(a.startswith(("llm.api_key_env=", "resume=")) for a in argv):
        argv.append(f"llm.api_key_env={KEY_ENV}")
    if not any(a.startswith(("hydra.run.dir=", "resume=")) for a in argv):
        argv.append(f"hydra.run.dir={tmp_path}/run")
    env = {KEY_ENV: KEY, "PG_FUZZ_UNSET": ""}
    try:  # the timeout only guards against a hang (a FIFO read forever)
        proc = run_cli(*argv, cwd=tmp_path, env=env, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"hung: {argv}")
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(lines) == 1, proc.stderr[-2000:]
    (line,) = lines
    assert line.startswith("postgen: config error: "), line
    assert case.key in line, line
    assert "Traceback" not in line and proc.stdout == ""
    assert KEY[:8] not in line
    assert snapshot(tmp_path) == before  # no run dir, no store, nothing overwritten
