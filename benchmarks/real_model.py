"""Real-model benchmark: sequential vs parallel=true against one real llama.cpp server.

    POSTGEN_TEST_GGUF=<dir or .gguf> python -m benchmarks.real_model [--repeat N]

Starts `python -m llama_cpp.server` (SmolLM2-135M-Instruct, one thread, one slot) on a free
loopback port, runs the real-model tier's workload (3 candidates, 1 vote, the `seo` rubric,
reduced max_tokens, no call store) sequentially and with `parallel=true`, alternating, and
reports each run's wall time and the ratio parallel / sequential. On a one-slot server
parallel cannot be faster than sequential; the target is "no slower": a ratio <= 1.1.

`--server-arg=--cache --server-arg=true` gives the server a RAM prompt cache: interleaved
stages (parallel) then stop evicting each other's prompt prefix. On a shared 2-core machine
(`--repeat 2`): ratio 1.12 without it, 0.79 with it; single pairs vary by +-25 %.

Outputs a Markdown table on stdout and `benchmarks/results/real_model.json`. A pair of runs
takes two to five minutes on a busy 2-core machine (`bash .ci/real-model-setup` gets the
server and the model).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.real_model.server import find_gguf, llama_server, skip_reason
from tests.real_model.test_llamacpp_e2e import WORKLOAD

RESULTS = Path(__file__).parent / "results" / "real_model.json"
TARGET = 1.1


def _run(base_url: str, out: Path, *extra: str) -> dict[str, Any]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "postgen", *WORKLOAD, f"llm.base_url={base_url}",
         f"hydra.run.dir={out}", "cache.enabled=false", *extra],
        capture_output=True, text=True, check=False, timeout=1800,
    )  # fmt: skip
    wall = time.monotonic() - started
    doc: dict[str, Any] = json.loads((out / "run.json").read_text()) if done.returncode == 0 else {}
    stages = doc.get("stages", {})
    return {
        "mode": "parallel" if extra else "sequential",
        "exit_code": done.returncode,
        "status": doc.get("status"),
        "wall_s": round(wall, 2),
        "run_wall_s": doc.get("wall_seconds"),
        "requests": doc.get("totals", {}).get("requests"),
        "retries": sum(s.get("retries", 0) for s in stages.values()),
        "peak_inflight": {n: s.get("max_concurrency_reached") for n, s in stages.items()},
        "ttft_p50_s": {n: s.get("ttft_p50_s") for n, s in stages.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="pairs of runs (default 1)")
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        help="extra argument for llama_cpp.server, e.g. --server-arg=--cache --server-arg=true",
    )
    args = parser.parse_args()
    reason = skip_reason()
    gguf = find_gguf()
    if reason is not None or gguf is None:
        print(f"real_model benchmark: cannot run: {reason}", file=sys.stderr)
        return 2
    runs: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        llama_server(gguf, Path(tmp), tuple(args.server_arg)) as server,
    ):
        for i in range(args.repeat):
            runs.append(_run(server.base_url, Path(tmp) / f"seq{i}"))
            runs.append(_run(server.base_url, Path(tmp) / f"par{i}", "parallel=true"))
    seq = [r["run_wall_s"] for r in runs if r["mode"] == "sequential" and r["status"] == "ok"]
    par = [r["run_wall_s"] for r in runs if r["mode"] == "parallel" and r["status"] == "ok"]
    ratio = statistics.median(par) / statistics.median(seq) if seq and par else None
    print("| mode | status | run wall s | requests | retries | peak in flight per stage |")
    print("|---|---|---|---|---|---|")
    for r in runs:
        peaks = ", ".join(f"{k} {v}" for k, v in r["peak_inflight"].items())
        print(
            f"| {r['mode']} | {r['status']} | {r['run_wall_s']} | {r['requests']} "
            f"| {r['retries']} | {peaks} |"
        )
    verdict = "n/a" if ratio is None else ("ok" if ratio <= TARGET else "SLOWER")
    shown = "n/a" if ratio is None else f"{ratio:.3f}"
    print(f"\nparallel / sequential (median run wall): {shown} (target <= {TARGET}: {verdict})")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    doc = {"ratio": ratio, "target": TARGET, "server_args": args.server_arg, "runs": runs}
    RESULTS.write_text(json.dumps(doc, indent=2))
    return 0 if ratio is not None and ratio <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
