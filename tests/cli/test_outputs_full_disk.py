"""A run's files on a full disk: one error naming the file and the errno, whether run.json made
it, and no `.tmp` left behind; every string redacted on its way into a file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from postgen.cli.outputs import OutputsNotWritten, write_outputs
from postgen.domain import ArticleCandidate
from postgen.observe.logs import Redactor
from postgen.observe.result import RunResult
from tests.conftest import settings_for
from tests.hostile.mounts import fill, remount_read_only, small_tmpfs

KEY = "pgECHOsentinel-5a4b3c2d1e0f"


def _result(content: str) -> RunResult:
    settings = settings_for("iterations=2", "synthesis=false")
    result = RunResult.aborted(settings, f"server said: bad key {KEY[:14]}")
    result.candidates[0] = ArticleCandidate(article_id=1, angle="a", content=content, model="m")
    return result


def test_a_full_disk_leaves_no_tmp_and_one_line(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "mnt", 256) as mnt:
        out = mnt / "run"
        out.mkdir()
        filler = fill(mnt)
        with pytest.raises(OutputsNotWritten) as caught:
            write_outputs(_result("x" * 50_000), out, exit_code=1)
        message = str(caught.value)
        assert message == (
            f"cannot write {out / 'candidates.jsonl'}: [Errno 28] No space left on device;"
            " run.json could not be written"
        )
        # No .tmp, no half file: only the complete (empty) ones that needed no space.
        assert sorted(p.name for p in out.iterdir()) == ["cards.jsonl", "scores.jsonl"]
        filler.unlink()  # room again: run.json fits, the big JSONL still does not
        (mnt / "ballast").write_bytes(b"\0" * (200 * 1024))
        with pytest.raises(OutputsNotWritten) as caught:
            write_outputs(_result("x" * 200_000), out, exit_code=1)
        assert str(caught.value).endswith("; run.json was written")
        assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
        assert json.loads((out / "run.json").read_text())["status"] == "failed"


def test_outputs_pass_through_the_run_redactor(tmp_path: Path) -> None:
    redact = Redactor()
    redact.add(KEY)
    write_outputs(_result(f"The key is {KEY}."), tmp_path, exit_code=1, redact=redact.value)
    for path in tmp_path.iterdir():
        assert KEY[:8] not in path.read_text(), path.name
    (line,) = (tmp_path / "candidates.jsonl").read_text().splitlines()
    assert json.loads(line)["content"] == "The key is ***."
    assert json.loads((tmp_path / "run.json").read_text())["error"] == "server said: bad key ***"


def test_a_run_dir_made_read_only_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "mnt", 1024) as mnt:
        out = mnt / "run"
        out.mkdir()
        remount_read_only(mnt)  # as a user's `chmod -w` would, but binding for root too
        with pytest.raises(OutputsNotWritten) as caught:
            write_outputs(_result("short and sweet"), out, exit_code=0)
        assert str(caught.value) == (
            f"cannot write {out / 'candidates.jsonl'}: [Errno 30] Read-only file system;"
            " run.json could not be written"
        )
        assert list(out.iterdir()) == []
