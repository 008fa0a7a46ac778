"""Bad input: one line on stderr, exit code 2, and nothing written (no run dir, no store)."""

from __future__ import annotations

from pathlib import Path

import pytest

from postgen.config import MAX_ITERATIONS
from tests.conftest import run_cli


def _files(work: Path) -> dict[str, str]:
    (work / "empty.txt").write_text("  \n")
    (work / "latin1.txt").write_bytes("Caf\xe9 marketing".encode("latin-1"))
    (work / "a_dir").mkdir()
    (work / "a_file").write_text("not a directory")
    (work / "conf" / "criteria").mkdir(parents=True)
    (work / "conf" / "criteria" / "empty.yaml").write_text("")
    return {"work": str(work)}


CASES = {
    "empty topic file": (
        ["topic_file={work}/empty.txt"],
        "topic_file: {work}/empty.txt is empty",
    ),
    "missing topic file": (
        ["topic_file={work}/nope.txt"],
        "topic_file: no such file: {work}/nope.txt",
    ),
    "unreadable topic file": (
        ["topic_file={work}/a_dir"],
        "topic_file: cannot read {work}/a_dir: Is a directory",
    ),
    "non-UTF-8 topic file": (
        ["topic_file={work}/latin1.txt"],
        "topic_file: {work}/latin1.txt is not UTF-8 text",
    ),
    "iterations beyond the maximum": (
        [f"iterations={MAX_ITERATIONS + 1}"],
        f"iterations: must be between 1 and {MAX_ITERATIONS} (got {MAX_ITERATIONS + 1})",
    ),
    "top_k above iterations": (
        ["iterations=3", "top_k=4"],
        "top_k: must be between 1 and 3, at most `iterations` (got 4)",
    ),
    "zero weight": (
        ["criteria.hook_strength.weight=0"],
        "criteria.hook_strength.weight: must be > 0 (got 0.0)",
    ),
    "negative weight": (
        ["criteria.audience_fit.weight=-0.5"],
        "criteria.audience_fit.weight: must be > 0 (got -0.5)",
    ),
    "criteria file without criteria": (
        ["--config-dir", "{work}/conf", "criteria=empty"],
        "criteria: no scoring criteria defined",
    ),
    "unwritable output dir": (
        ["hydra.run.dir={work}/a_file/run"],
        "hydra.run.dir: cannot write {work}/a_file/run: Not a directory",
    ),
    "non-numeric concurrency": (
        ["concurrency=lots"],
        "concurrency: Value 'lots' of type 'str' could not be converted to Integer",
    ),
    "negative concurrency": (
        ["concurrency=-3"],
        "concurrency: must be between 1 and 1024 (got -3)",
    ),
    "zero stage concurrency": (
        ["stage.score.concurrency=0"],
        "stage.score.concurrency: must be between 1 and 1024 (got 0)",
    ),
    "unset API key variable": (
        ["llm.api_key_env=POSTGEN_TEST_UNSET_KEY"],
        "llm.api_key_env: environment variable POSTGEN_TEST_UNSET_KEY is not set",
    ),
    "negative budget": (
        ["budget.max_tokens=-1"],
        "budget.max_tokens: must be between 1 and 1000000000000000 (got -1)",
    ),
    "resume of a directory that does not exist": (
        ["resume={work}/gone"],
        "resume: {work}/gone is not a postgen run dir (no .hydra/config.yaml)",
    ),
    "resume of a directory that is no run": (
        ["resume={work}/a_dir"],
        "resume: {work}/a_dir is not a postgen run dir (no .hydra/config.yaml)",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_exit_2(case: str, tmp_path: Path):
    fill = _files(tmp_path)
    args, line = CASES[case]
    argv = [a.format(**fill) for a in args]
    if not any(a.startswith(("hydra.run.dir=", "resume=")) for a in argv):
        argv.append(f"hydra.run.dir={tmp_path}/run")
    proc = run_cli(*argv, cwd=tmp_path, env={"POSTGEN_TEST_UNSET_KEY": ""})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [f"postgen: config error: {line.format(**fill)}"]
    assert proc.stdout == ""
    assert not (tmp_path / "run").exists()  # not even Hydra's .hydra/ is left behind
    assert not (tmp_path / ".postgen").exists()  # no store was created
    assert (tmp_path / "a_dir").is_dir() and not any((tmp_path / "a_dir").iterdir())
    assert not (tmp_path / "gone").exists() and not (tmp_path / "outputs").exists()
