"""The "Performance Notes" of `post_generator.py --help`: measured numbers, never guesses.

The numbers come from `benchmarks/results/latest.json` (written by `python -m benchmarks.scheduler`)
when it exists next to the package or in the current directory; otherwise the notes say how
to measure.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

__all__ = ["benchmark_file", "performance_notes"]

_RESULTS = Path("benchmarks") / "results" / "latest.json"
_MAX_SCENARIOS = 6


def benchmark_file() -> Path | None:
    """The latest benchmark results, if this checkout (or the current directory) has them."""
    for root in (Path(__file__).resolve().parent.parent, Path.cwd()):
        if (root / _RESULTS).is_file():
            return root / _RESULTS
    return None


def performance_notes() -> str:
    lines = [
        "Performance Notes:",
        "  - Without --parallel every request waits for the previous one, as the seed did.",
        "  - With --parallel, an adaptive scheduler raises concurrency up to the ceilings and",
        "    backs off on 429/503/timeouts, so a high --max-concurrent costs few rate limits.",
    ]
    path = benchmark_file()
    measured = _measured_lines(path) if path is not None else []
    if measured:
        lines.append(f"  - Measured by `python -m benchmarks.scheduler` ({path}):")
        lines.extend(
            textwrap.fill(m, width=92, initial_indent="      ", subsequent_indent="        ")
            for m in measured
        )
    else:
        lines.append(
            "  - To measure speedups on your machine: python -m benchmarks.scheduler --quick"
        )
        lines.append("    (results in benchmarks/results/latest.json, shown here once present).")
    lines.append("  - Find the best ceiling for your provider with a sweep:")
    lines.append("      python -m postgen +experiment=concurrency_sweep llm=openai")
    return "\n".join(lines) + "\n"


def _measured_lines(path: Path) -> list[str]:
    """One line per scenario from `rows` (scenario, strategy, makespan_s, ratio, ...)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        rows = [r for r in doc.get("rows", []) if isinstance(r, dict)]
        scenarios = doc.get("scenarios") or {}
    except (OSError, ValueError, AttributeError):
        return []
    by_scenario: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_scenario.setdefault(str(row.get("scenario")), {})[str(row.get("strategy"))] = row
    out = []
    for name, strategies in list(by_scenario.items())[:_MAX_SCENARIOS]:
        title = (scenarios.get(name) or {}).get("title") or name
        line = _scenario_line(strategies)
        if line:
            out.append(f"{title}: {line}")
    if out and doc.get("quick"):
        out.append("(a --quick run: fewer requests per scenario)")
    return out


def _scenario_line(strategies: dict[str, dict[str, Any]]) -> str | None:
    adaptive = strategies.get("adaptive")
    makespan = _number(adaptive, "makespan_s")
    if adaptive is None or not makespan:
        return None
    parts = []
    if (ratio := _number(adaptive, "ratio")) is not None:
        parts.append(f"adaptive {ratio:.2f}x the lower bound")
    throttled, failed = _number(adaptive, "throttled_fraction"), _number(adaptive, "failed")
    if throttled is not None:
        parts.append(f"{throttled * 100:.1f}% 429s, {failed or 0:.0f} failed")
    for name, label in (("sequential", "sequential"), ("fixed5", "fixed 5")):
        other = _number(strategies.get(name), "makespan_s")
        if other:
            parts.append(f"{other / makespan:.1f}x faster than {label}")
    fixed16 = strategies.get("fixed16")
    f16_throttled = _number(fixed16, "throttled_fraction")
    if f16_throttled is not None:
        f16_failed = _number(fixed16, "failed") or 0
        parts.append(f"fixed 16: {f16_throttled * 100:.1f}% 429s, {f16_failed:.0f} failed")
    return "; ".join(parts) if parts else None


def _number(record: dict[str, Any] | None, key: str) -> float | None:
    value = None if record is None else record.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None
