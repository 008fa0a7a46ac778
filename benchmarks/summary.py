"""One picture of `benchmarks.scheduler` runs: makespan / lower bound per scenario and strategy.

    python -m benchmarks.summary [RUN.json ...] [docs/images/scheduler-matrix.png]

Reads the rows the runs wrote (default: `benchmarks/results/latest.json`) and draws grouped bars
(log scale: fixed pools reach 17x) with the 1.15x target as a line, so README's table has its
plot. Adaptive and oracle rows of a `--stream` run are drawn as their own bars, "adaptive
streamed" and "oracle streamed": streaming costs the client time of its own, so a streamed
row compares with the streamed oracle.
"""

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

__all__ = ["main", "plot"]

REPO = Path(__file__).resolve().parent.parent
STREAMED = {"adaptive": "adaptive streamed", "oracle": "oracle streamed"}
STRATEGIES = ("adaptive", STREAMED["adaptive"], "oracle", STREAMED["oracle"], "fixed16")
COLORS = {
    "adaptive": "#1f77b4",
    STREAMED["adaptive"]: "#17becf",
    "oracle": "#7f7f7f",
    STREAMED["oracle"]: "#c7c7c7",
    "fixed16": "#d62728",
}
TARGET = 1.15


def ratios(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """{scenario: {strategy: ratio}} for the rows that have a ratio (not the overhead row)."""
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for row in rows:
        strategy = row.get("strategy")
        if row.get("stream") and strategy in STREAMED:
            strategy = STREAMED[strategy]
        if row.get("ratio") is not None and strategy in STRATEGIES:
            out[row["scenario"]][str(strategy)] = float(row["ratio"])
    return dict(out)


def plot(rows: list[dict[str, Any]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = ratios(rows)
    names = list(table)
    drawn = [st for st in STRATEGIES if any(st in table[n] for n in names)]
    width = 0.8 / max(len(drawn), 1)
    fig, ax = plt.subplots(figsize=(11, 3.6))
    for k, strategy in enumerate(drawn):
        xs = [i + (k - (len(drawn) - 1) / 2) * width for i in range(len(names))]
        ys = [table[n].get(strategy, float("nan")) for n in names]
        ax.bar(xs, ys, width, label=strategy, color=COLORS[strategy])
    ax.axhline(TARGET, color="black", linestyle="--", linewidth=0.8, label=f"{TARGET}x target")
    ax.set_yscale("log")
    ax.set_yticks([1, 1.15, 1.5, 2, 5, 10])
    ax.set_yticklabels(["1", "1.15", "1.5", "2", "5", "10"])
    ax.set_ylim(0.9, 20)
    ax.set_ylabel("makespan / lower bound")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=35, ha="right", fontsize=8)
    ax.legend(fontsize=8, ncols=len(drawn) + 1, loc="upper left")
    ax.set_title("benchmarks.scheduler --quick: told nothing (adaptive) vs told the limits")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    pngs = [Path(a) for a in args if a.endswith(".png")]
    sources = [Path(a) for a in args if not a.endswith(".png")]
    sources = sources or [REPO / "benchmarks" / "results" / "latest.json"]
    target = pngs[0] if pngs else REPO / "docs" / "images" / "scheduler-matrix.png"
    rows = [row for source in sources for row in json.loads(source.read_text())["rows"]]
    print(plot(rows, target))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
