"""A full disk mid-run: the run stops paying, says so in one line, leaves no `.tmp`, and the
same command on a disk with room again pays only for the calls that were not stored."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.hostile.mounts import small_tmpfs
from tests.reliability.helpers import external_sim, run_json, stored_calls

# 30 candidates, 30 cards, 30 votes, 1 synthesis = 91 calls of a few kB each: far more than
# 256 kB holds. One call at a time, so "in flight" is exactly one call.
WORKLOAD = ("iterations=30", "votes=1", "top_k=2", "parallel=false", "seed=3", "quiet=true")
CALLS = 30 + 30 + 30 + 1


@pytest.mark.parametrize("full", ["store and run dir", "store only"])
def test_a_full_disk_stops_the_run_and_the_rerun_pays_only_for_the_rest(
    full: str, tmp_path: Path
) -> None:
    with small_tmpfs(tmp_path / "mnt", 256) as mnt, external_sim("--time-scale", "0") as sim:
        store = mnt / "calls.sqlite"
        runs = mnt if full == "store and run dir" else tmp_path
        args = (*sim.endpoint_args(), *WORKLOAD, f"cache.path={store}")
        first = run_cli(*args, f"hydra.run.dir={runs}/run1", cwd=tmp_path, timeout=120)
        paid = sim.wait_idle()["completed"]
        stored = stored_calls(store)

        assert first.returncode == 1, first.stderr
        (line,) = first.stderr.splitlines()  # one line, no traceback, no "Logging error"
        assert f"cannot write the call store {store}: [Errno 28] No space left on device" in line
        if full == "store only":
            assert run_json(runs / "run1")["status"] == "failed"
            assert store.name in run_json(runs / "run1")["error"]
        else:  # written, or said that it could not be
            assert "run.json" in line
        assert 0 < stored < CALLS
        assert paid - stored <= 1  # nothing paid for piles up undurably: the run stopped
        leftovers = [p for p in runs.rglob("*") if p.name.endswith(".tmp")]
        assert leftovers == []

        subprocess.run(["mount", "-o", "remount,size=64m", str(mnt)], check=True, timeout=30)
        again = run_cli(*args, f"hydra.run.dir={runs}/run2", cwd=tmp_path, timeout=120)
        assert again.returncode == 0, again.stderr
        assert sim.wait_idle()["completed"] - paid == CALLS - stored  # only what was lost
        assert run_json(runs / "run2")["status"] == "ok"
        assert stored_calls(store) == CALLS
