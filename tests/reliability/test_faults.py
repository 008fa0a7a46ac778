"""Provider faults all at once: 500s, hangs, malformed JSON and 429 bursts. The run completes."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_cli
from tests.reliability.helpers import accounted_for, external_sim, run_json

FAULTS = (
    "--error-rate", "0.1",
    "--hang-rate", "0.05", "--hang-s", "5",
    "--malformed-rate", "0.05",
    "--burst-429-every", "1.5", "--burst-429-len", "0.25",
    "--time-scale", "0.02",
)  # fmt: skip
# A hung request is abandoned after 0.5 s and retried; backoff stays short for the test.
SHORT_RETRIES = [
    f"stage.{s}.retry.{k}={v}"
    for s in ("candidates", "extract", "score", "synthesize")
    for k, v in (("timeout_s", 0.5), ("initial_backoff_s", 0.05), ("max_backoff_s", 0.5))
]


def test_every_fault_kind_at_once_still_writes_the_post(work: Path):
    run_dir = work / "run"
    with external_sim(*FAULTS) as sim:
        proc = run_cli(
            *sim.endpoint_args(),
            "iterations=8",
            "parallel=true",
            "cache.enabled=false",
            # ~20% of requests fail on purpose: more than the default retry budget allows.
            "scheduler.retry_budget=0.5",
            *SHORT_RETRIES,
            f"hydra.run.dir={run_dir}",
            cwd=work,
        )
        seen = sim.stats()
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    # The simulator really injected every kind of fault into this run.
    assert {"error", "hang", "malformed"} <= set(seen["faults"]), seen
    assert seen["by_status"].get("429", 0) > 0, seen
    doc = run_json(run_dir)
    assert doc["status"] in ("ok", "partial")
    assert (run_dir / "post.md").read_text().startswith("---\n")
    accounted_for(doc)  # nothing unaccounted for: every item succeeded or has its reason
    assert sum(st["retries"] for st in doc["stages"].values()) > 0
    assert sum(st["rate_limited"] for st in doc["stages"].values()) > 0
