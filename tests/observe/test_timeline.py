"""timeline.png: drawn from observer events; skipped, never failing, without matplotlib."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from postgen.observe.timeline import TimelineRecorder, write_timeline
from scheduler import Kind, Verdict
from tests.conftest import settings_for

PNG = b"\x89PNG\r\n\x1a\n"


def _recorder() -> TimelineRecorder:
    now = [0.0]
    rec = TimelineRecorder(4, clock=lambda: now[0])
    for i in range(20):
        now[0] = i * 0.1
        rec.on_dispatch("candidates", i % 5 + 1)
        rec.on_complete("candidates", Verdict(Kind.SUCCESS, "ok"), 0.1, i % 5)
    rec.on_complete("candidates", Verdict(Kind.DROP, "rate_limited", retry_after=1), 0.1, 3)
    rec.on_gate("sim-1", True, 0.5)
    rec.on_limit_change("sim-1", 4, 2, "decrease")
    return rec


def test_draws_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "timeline.png"
    assert write_timeline(_recorder(), settings_for("parallel=true"), path)
    assert path.read_bytes().startswith(PNG)


def test_skipped_without_matplotlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import raises ImportError
    path = tmp_path / "timeline.png"
    assert write_timeline(_recorder(), settings_for(), path) is False
    assert not path.exists()


def test_nothing_to_draw_without_requests(tmp_path: Path) -> None:
    assert write_timeline(TimelineRecorder(1), settings_for(), tmp_path / "t.png") is False
