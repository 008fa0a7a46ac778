"""One picture of a `benchmarks.scheduler` run: makespan / lower bound per scenario and strategy.

    python -m benchmarks.summary [benchmarks/results/latest.json] [docs/images/scheduler-matrix.png]

Reads the rows a run wrote and draws grouped bars (log scale: fixed pools reach 17x) with the
1.15x target as a line, so README's table has its plot.
"""

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

__all__ = ["main", "plot"]

REPO = Path(__file__).resolve().parent.parent
STRATEGIES = ("adaptive", "oracle", "fixed16")
COLORS = {"adaptive": "#1f77b4", "oracle": "#7f7f7f", "fixed16": "#d62728"}
TARGET = 1.15


def ratios(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """{scenario: {strategy: ratio}} for the rows that have a ratio (not the overhead row)."""
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for row in rows:
        if row.get("ratio") is not None and row.get("strategy") in STRATEGIES:
            out[row["scenario"]][row["strategy"]] = float(row["ratio"])
    return dict(out)


def plot(rows: list[dict[str, Any]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = ratios(rows)
    names = list(table)
    width = 0.27
    fig, ax = plt.subplots(figsize=(11, 3.6))
    for k, strategy in enumerate(STRATEGIES):
        xs = [i + (k - 1) * width for i in range(len(names))]
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
    ax.legend(fontsize=8, ncols=4, loc="upper left")
    ax.set_title("benchmarks.scheduler --quick: told nothing (adaptive) vs told the limits")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    source = Path(args[0]) if args else REPO / "benchmarks" / "results" / "latest.json"
    target = Path(args[1]) if len(args) > 1 else REPO / "docs" / "images" / "scheduler-matrix.png"
    rows = json.loads(source.read_text())["rows"]
    print(plot(rows, target))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
