"""Logging: one file per run, stdlib routed through loguru, levels from config, secrets redacted."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from loguru import logger

from postgen.observe.logs import LOG_FILE, Redactor, run_logging

SECRET = "sk-test-0123456789abcdefSENTINEL"


@pytest.mark.parametrize(
    "line",
    [
        f"Authorization: Bearer {SECRET}",
        f"headers={{'authorization': 'Bearer {SECRET}'}}",
        f'{{"Authorization": "Bearer {SECRET}"}}',
        f"curl -H 'Authorization: Bearer {SECRET}'",
        f"bearer {SECRET}",
        f"api_key={SECRET}",
        f"x-api-key: {SECRET}",
        f"using {SECRET} now",
    ],
)
def test_redactor_blanks_credentials(line: str) -> None:
    out = Redactor()(line)
    assert "0123456789abcdef" not in out, out
    assert "***" in out


def test_redactor_blanks_the_configured_key_whatever_it_looks_like() -> None:
    redact = Redactor()
    redact.add("plainpassword42")
    redact.add("")  # no key: nothing to add
    redact.add(None)
    assert redact("key is plainpassword42.") == "key is ***."
    assert redact("api_key_env=OPENAI_API_KEY") == "api_key_env=OPENAI_API_KEY"  # names stay


def test_run_log_file_levels_stdlib_and_redaction(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with run_logging(tmp_path, "info", quiet=False, console=True) as redact:
        redact.add("hunter2-secret")
        logger.debug("debug detail")
        logger.info("hello {}", "world")
        logging.getLogger("hydra").warning("from hydra with hunter2-secret")
        logging.getLogger("some.lib").info("stdlib info")
        try:
            raise RuntimeError(f"upstream said: Authorization: Bearer {SECRET}")
        except RuntimeError:
            logger.exception("call failed")
    text = (tmp_path / LOG_FILE).read_text(encoding="utf-8")
    err = capsys.readouterr().err
    assert "debug detail" in text and "debug detail" not in err  # file DEBUG, console INFO
    assert "hello world" in text and "hello world" in err
    assert "from hydra with ***" in text
    assert "stdlib info" in text
    assert "RuntimeError" in text  # the traceback is kept...
    for out in (text, err):
        assert "hunter2-secret" not in out
        assert "0123456789abcdef" not in out  # ...but not the credential in it


def test_quiet_keeps_warnings_on_the_console(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with run_logging(tmp_path, "DEBUG", quiet=True, console=True):
        logger.info("chatty")
        logger.warning("important")
    err = capsys.readouterr().err
    assert "chatty" not in err and "important" in err
    assert "chatty" in (tmp_path / LOG_FILE).read_text(encoding="utf-8")


def test_handlers_are_removed_after_the_run(tmp_path: Path) -> None:
    root_before = logging.getLogger().handlers[:]
    with run_logging(tmp_path, "INFO", quiet=True, console=True):
        pass
    assert logging.getLogger().handlers == root_before
    logger.info("after the run")  # must not land in the run's file
    assert "after the run" not in (tmp_path / LOG_FILE).read_text(encoding="utf-8")


def test_as_a_library_the_hosts_sinks_stay_and_hear_nothing(tmp_path: Path) -> None:
    heard: list[str] = []
    host = logger.add(heard.append, level="DEBUG", format="{message}")
    try:
        logger.disable("postgen")  # what `import postgen` does
        with run_logging(tmp_path, "INFO", quiet=False):
            # loguru names a record by the calling frame's module: make it a postgen module's.
            exec("logger.info('from postgen')", {"__name__": "postgen.engine", "logger": logger})
        logger.info("from the host")  # the host's sink is still there afterwards
    finally:
        logger.remove(host)
    assert heard == ["from the host\n"]
    assert (tmp_path / LOG_FILE).exists()
