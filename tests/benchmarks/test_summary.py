"""The benchmark summary plot reads a run's rows as `benchmarks.scheduler` writes them."""

from pathlib import Path

from benchmarks.summary import plot, ratios

ROWS = [
    {"scenario": "bare_rate", "strategy": "adaptive", "ratio": 1.05},
    {"scenario": "bare_rate", "strategy": "oracle", "ratio": 1.08},
    {"scenario": "bare_rate", "strategy": "fixed16", "ratio": 1.47},
    {"scenario": "queueing", "strategy": "adaptive", "ratio": 1.03},
    {"scenario": "overhead", "requests": 2000},  # no ratio: not drawn
    {"scenario": "queueing", "strategy": "sequential", "ratio": 2.0},  # not a drawn strategy
    {"scenario": "queueing", "strategy": "adaptive", "ratio": 1.01, "stream": True},
    {"scenario": "queueing", "strategy": "oracle", "ratio": 1.18, "stream": True},
]


def test_ratios_group_by_scenario_and_keep_only_drawn_strategies() -> None:
    assert ratios(ROWS) == {
        "bare_rate": {"adaptive": 1.05, "oracle": 1.08, "fixed16": 1.47},
        "queueing": {"adaptive": 1.03, "adaptive streamed": 1.01, "oracle streamed": 1.18},
    }


def test_plot_writes_a_png(tmp_path: Path) -> None:
    out = plot(ROWS, tmp_path / "matrix.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
