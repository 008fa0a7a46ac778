"""The one redaction of a run: whole secrets, any prefix of 8 characters or more, in log lines,
in JSON-like trees (run.json, the JSONL outputs); and a log sink that cannot write says so once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from loguru import logger

from postgen.observe.logs import LOG_FILE, MIN_FRAGMENT, Redactor, run_logging

KEY = "plainKEY.with+regex*chars(9d8e7f6a)"  # not sk-shaped: only the given secret catches it


def _redactor() -> Redactor:
    redact = Redactor()
    redact.add(KEY)
    return redact


@pytest.mark.parametrize("cut", range(MIN_FRAGMENT, len(KEY) + 1))
def test_a_key_cut_anywhere_after_8_characters_is_blanked(cut: int) -> None:
    text = f"401 from server: invalid key {KEY[:cut]}"
    out = _redactor()(text)
    assert out == "401 from server: invalid key ***"


def test_shorter_fragments_and_lookalikes_stay() -> None:
    redact = _redactor()
    short = KEY[: MIN_FRAGMENT - 1]
    assert redact(f"a {short} b") == f"a {short} b"  # 7 characters identify nothing
    assert redact("plainKEX.with is a word") == "plainKEX.with is a word"


def test_every_occurrence_and_what_follows_is_kept() -> None:
    redact = _redactor()
    text = f"{KEY}|{KEY[:10]}x|{KEY}{KEY[:9]}"
    assert redact(text) == "***|***x|******"


def test_trees_are_redacted_string_by_string() -> None:
    doc = {"error": f"bad key {KEY[:12]}", "n": 3, "items": [KEY, {"deep": f'"{KEY}"'}]}
    assert _redactor().value(doc) == {
        "error": "bad key ***",
        "n": 3,
        "items": ["***", {"deep": '"***"'}],
    }
    json.dumps(_redactor().value(doc))  # still plain JSON-able data


def test_a_full_log_file_says_so_once_and_the_run_goes_on(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / LOG_FILE).symlink_to("/dev/full")  # every write: ENOSPC, as on a full disk
    try:
        with run_logging(tmp_path, "info", quiet=True, console=True):
            for i in range(50):
                logger.info("line {}", i)
            logger.warning("the console still works")
    finally:
        logger.disable("postgen")  # console=True enabled it; the next test gets the library state
    err = capfd.readouterr().err.splitlines()
    broken = [line for line in err if "cannot write" in line]
    assert broken == [
        f"postgen: cannot write {tmp_path / LOG_FILE}: [Errno 28] No space left on device;"
        " its lines are dropped from here on"
    ]
    assert not any("Logging error" in line or "Traceback" in line for line in err)
    assert any("the console still works" in line for line in err)
