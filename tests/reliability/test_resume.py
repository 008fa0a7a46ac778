"""Nothing lost: kill -9, Ctrl-C and SIGTERM, then the same command (or `resume=`) finishes."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from tests.conftest import run_cli
from tests.reliability.helpers import (
    WORKLOAD,
    accounted_for,
    external_sim,
    interrupt,
    launch,
    outputs,
    run_json,
    stored_calls,
    wait_for,
)

# A candidate takes ~0.6 s, a vote ~0.15 s; the simulator's seed is the run's, as in-process.
SLOW = ("--time-scale", "0.05", "--seed", "7")


def test_kill_9_then_same_command_sends_only_the_rest(work: Path, reference: dict[str, str]):
    store = work / ".postgen" / "calls.sqlite"
    with external_sim(*SLOW) as sim:
        args = (*WORKLOAD, *sim.endpoint_args(), f"hydra.run.dir={work / 'run'}")
        first = launch(*args, cwd=work)
        wait_for(lambda: sim.stats()["completed"] >= 5)
        first.kill()
        first.communicate(timeout=10)
        sent_before = sim.wait_idle()["requests"]
        kept = stored_calls(store)
        assert kept >= 3  # finished calls were durable the moment they finished
        assert not (work / "run" / "run.json").exists()  # SIGKILL: nothing else was written

        second = run_cli(*args, cwd=work)
        sent_again = sim.stats()["requests"] - sent_before

    assert second.returncode == 0, second.stderr
    doc = run_json(work / "run")
    replayed = sum(st["cached"] for st in doc["stages"].values())
    sent = doc["totals"]["requests"]
    assert replayed == kept  # every finished call came from the store ...
    assert sent_again == sent  # ... and the simulator saw only the rest,
    assert kept + sent == 17  # no finished call twice (17 = the workload's calls)
    assert doc["status"] == "ok"
    assert outputs(work / "run") == reference


def test_sigint_exits_130_fast_and_resume_finishes(work: Path, reference: dict[str, str]):
    run_dir = work / "run"
    with external_sim(*SLOW) as sim:
        proc = launch(*WORKLOAD, *sim.endpoint_args(), f"hydra.run.dir={run_dir}", cwd=work)
        wait_for(lambda: sim.stats()["completed"] >= 3)
        code, stderr = interrupt(proc, signal.SIGINT)
        assert code == 130, stderr
        assert sim.wait_idle()["completed"] < 17  # it stopped; it did not finish the workload
        doc = run_json(run_dir)
        assert doc["status"] == "interrupted"
        assert doc["stopped"] == "interrupted"
        assert "interrupted by SIGINT" in doc["notes"]
        for name in ("candidates.jsonl", "cards.jsonl", "scores.jsonl"):
            for line in (run_dir / name).read_text().splitlines():
                json.loads(line)  # partial files are whole lines of JSON
        kept = stored_calls(work / ".postgen" / "calls.sqlite")

        again = run_cli(f"resume={run_dir}", cwd=work)
    assert again.returncode == 0, again.stderr
    doc = run_json(run_dir)
    assert doc["status"] == "ok"
    assert doc["config"]["resume"] == str(run_dir)
    assert sum(st["cached"] for st in doc["stages"].values()) >= kept
    assert outputs(run_dir) == reference
    assert not list(work.glob("outputs"))  # resume wrote into the run dir, made no new one


def test_sigterm_exits_143_with_partial_files(work: Path):
    run_dir = work / "run"
    proc = launch("iterations=6", "llm.sim.time_scale=0.1", f"hydra.run.dir={run_dir}", cwd=work)
    wait_for(lambda: stored_calls(work / ".postgen" / "calls.sqlite") >= 1)
    code, stderr = interrupt(proc, signal.SIGTERM)
    assert code == 143, stderr
    doc = run_json(run_dir)
    assert doc["status"] == "interrupted"
    assert "interrupted by SIGTERM" in doc["notes"]
    assert len((run_dir / "candidates.jsonl").read_text().splitlines()) >= 1


def test_second_ctrl_c_exits_at_once(work: Path):
    proc = launch("iterations=6", "llm.sim.time_scale=0.1", f"hydra.run.dir={work / 'r'}", cwd=work)
    wait_for(lambda: stored_calls(work / ".postgen" / "calls.sqlite") >= 1)
    proc.send_signal(signal.SIGINT)
    code, stderr = interrupt(proc, signal.SIGINT)
    assert code == 130, stderr  # at once: a second signal does not wait to write run.json


def test_resume_keeps_the_saved_config(work: Path):
    run_dir = work / "run"
    done = run_cli("iterations=2", "llm.sim.time_scale=0", f"hydra.run.dir={run_dir}", cwd=work)
    assert done.returncode == 0, done.stderr
    proc = run_cli(f"resume={run_dir}", "iterations=3", cwd=work)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "postgen: config error: resume: continues with the run's saved config; drop iterations=3"
    ]
    again = run_cli(f"resume={run_dir}", cwd=work)
    assert again.returncode == 0, again.stderr
    doc = run_json(run_dir)
    assert doc["totals"]["requests"] == 0  # all 10 calls replayed from the store
    assert doc["config"]["iterations"] == 2


def test_cache_disabled_sends_every_call_again(work: Path):
    args = ("iterations=2", "votes=1", "llm.sim.time_scale=0", "cache.enabled=false")
    for name in ("a", "b"):
        proc = run_cli(*args, f"hydra.run.dir={work / name}", cwd=work)
        assert proc.returncode == 0, proc.stderr
        doc = run_json(work / name)
        assert doc["totals"]["requests"] == 7
        assert sum(st["cached"] for st in doc["stages"].values()) == 0
    assert not (work / ".postgen").exists()
    accounted_for(doc)


def test_ctrl_c_in_a_sweep_stops_the_sweep(work: Path):
    sweep = work / "sweep"
    with external_sim(*SLOW) as sim:
        sweep_args = ("-m", "stage.score.temperature=0.1,0.2,0.3", f"hydra.sweep.dir={sweep}")
        proc = launch(*sweep_args, *WORKLOAD, *sim.endpoint_args(), cwd=work)
        wait_for(lambda: sim.stats()["completed"] >= 2)  # job 0 is running, handlers are up
        code, stderr = interrupt(proc, signal.SIGINT)
    assert code == 130, stderr
    assert run_json(sweep / "0")["status"] == "interrupted"
    assert not (sweep / "1").exists()  # the next job never started
