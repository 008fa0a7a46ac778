"""The sweep report on hand-made job dirs: rows, swept keys, best row, files."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from postgen.cli.sweep import collect_jobs, swept_keys, write_report


def _job(sweep: Path, num: int, overrides: list[str], run: dict[str, Any] | None) -> None:
    job = sweep / str(num)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides), encoding="utf-8")
    if run is not None:
        (job / "run.json").write_text(json.dumps(run), encoding="utf-8")


def _run(
    wall: float, requests: int, limited: int, failed: int, status: str = "ok"
) -> dict[str, Any]:
    stage = {"requests": requests, "rate_limited": limited, "retries": limited, "failed": []}
    score = {"requests": 0, "rate_limited": 0, "retries": 0, "failed": [{"item": "1"}] * failed}
    return {"status": status, "wall_seconds": wall, "stages": {"extract": stage, "score": score}}


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    common = ["parallel=true", "iterations=4"]
    _job(tmp_path, 0, ["concurrency=16", *common], _run(2.0, 40, 10, 0))
    _job(tmp_path, 1, ["concurrency=2", *common], _run(4.0, 20, 0, 0))
    _job(tmp_path, 2, ["concurrency=8", *common], _run(1.5, 30, 3, 1, "partial"))
    _job(tmp_path, 3, ["concurrency=4", *common], None)  # crashed before run.json
    return tmp_path


def test_rows_are_sorted_by_the_swept_value_with_the_best_marked(sweep: Path) -> None:
    rows = write_report(sweep)
    assert [r.values["concurrency"] for r in rows] == ["2", "4", "8", "16"]
    assert swept_keys(rows) == ["concurrency"]
    best = [r for r in rows if r.best]
    assert [r.values["concurrency"] for r in best] == ["16"]  # 8 is faster but lost an item
    missing = rows[1]
    assert missing.status == "missing" and missing.wall_s is None and not missing.best
    sixteen = rows[3]
    assert sixteen.requests == 40 and sixteen.frac_429 == 0.25
    assert sixteen.requests_per_s == 20.0


def test_csv_md_and_png_are_written(sweep: Path) -> None:
    write_report(sweep, ["concurrency"])
    with (sweep / "sweep.csv").open(encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert [r["concurrency"] for r in table] == ["2", "4", "8", "16"]
    assert [r["best"] for r in table] == ["0", "0", "0", "1"]
    assert table[2]["failed_items"] == "1" and table[2]["frac_429"] == "0.1000"
    md = (sweep / "sweep.md").read_text(encoding="utf-8")
    assert md.count("★") == 1 and "Best: concurrency=16" in md
    assert "| 429 fraction |" in md and "| wall s |" in md
    assert (sweep / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_matplotlib_the_plot_is_skipped(
    sweep: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import now fails
    rows = write_report(sweep)
    assert len(rows) == 4
    assert (sweep / "sweep.md").is_file() and not (sweep / "sweep.png").exists()


def test_several_swept_keys_and_non_numeric_values(tmp_path: Path) -> None:
    for n, (kind, conc) in enumerate([("fixed", 2), ("adaptive", 2), ("fixed", 8)]):
        overrides = [f"scheduler={kind}", f"concurrency={conc}"]
        _job(tmp_path, n, overrides, _run(1.0 + n, 10, 0, 0))
    rows = write_report(tmp_path)
    assert set(swept_keys(rows)) == {"scheduler", "concurrency"}
    assert len(collect_jobs(tmp_path)) == 3
    assert (tmp_path / "sweep.png").is_file()


def test_an_empty_sweep_dir_writes_nothing(tmp_path: Path) -> None:
    assert write_report(tmp_path) == []
    assert not (tmp_path / "sweep.csv").exists()


def test_a_job_that_left_no_run_dir_still_gets_a_row(sweep: Path) -> None:
    common = ["parallel=true", "iterations=4"]
    expected = [[f"concurrency={c}", *common] for c in (2, 4, 8, 16, 32)]
    rows = write_report(sweep, expected=expected)
    assert [r.values["concurrency"] for r in rows] == ["2", "4", "8", "16", "32"]
    assert rows[-1].status == "no output" and not rows[-1].best


def test_a_mostly_replayed_job_is_marked_and_never_ranked(tmp_path: Path) -> None:
    common = ["parallel=true", "iterations=4"]
    _job(tmp_path, 0, ["concurrency=2", *common], _run(4.0, 20, 0, 0))
    replayed = _run(0.1, 1, 0, 0)  # fastest by far, because it sent one request of 21
    replayed["stages"]["extract"]["cached"] = 20
    _job(tmp_path, 1, ["concurrency=8", *common], replayed)
    rows = write_report(tmp_path, plot=False)
    assert [r.values["concurrency"] for r in rows if r.best] == ["2"]
    assert [r.mostly_replayed for r in rows] == [False, True]
    md = (tmp_path / "sweep.md").read_text(encoding="utf-8")
    assert "ok (replayed)" in md and "cache.enabled=false" in md
    with (tmp_path / "sweep.csv").open(encoding="utf-8") as f:
        assert [r["replayed"] for r in csv.DictReader(f)] == ["0", "20"]
