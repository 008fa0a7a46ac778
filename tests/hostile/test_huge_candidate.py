"""A server that answers a candidate with ~1 MB of text: the candidate is cut to its maximum
(MAX_CHARS_PER_WORD per word of brief.words) before it goes into the extract prompt or
candidates.jsonl."""

from __future__ import annotations

import json
from pathlib import Path

from postgen.stages.candidates import MAX_CHARS_PER_WORD
from tests.conftest import run_cli
from tests.hostile.echo_server import HUGE_REPEAT, running_echo_server

WORDS = 100
LIMIT = WORDS * MAX_CHARS_PER_WORD


def test_a_huge_candidate_is_cut_before_it_goes_onward(tmp_path: Path) -> None:
    with running_echo_server("huge") as server:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        proc = run_cli(
            "llm.provider=openai",
            f"llm.base_url={url}",
            "llm.model=echo-model",
            "iterations=1",
            "votes=1",
            "top_k=1",
            f"brief.words={WORDS}",
            "stage.extract.retry.attempts=1",
            # Let the megabyte through the client's reply bound: the candidate cap is under test.
            "llm.max_reply_bytes=4000000",
            "cache.enabled=false",
            f"hydra.run.dir={tmp_path / 'run'}",
            cwd=tmp_path,
        )
        bodies = list(server.bodies)
    (line,) = (tmp_path / "run" / "candidates.jsonl").read_text().splitlines()
    content = json.loads(line)["content"]
    assert LIMIT // 2 < len(content) <= LIMIT < 26 * HUGE_REPEAT
    assert content.split()[-1] in {"Ship", "small", "changes", "often."}  # between words
    extract_prompt = bodies[1]  # the second request: the candidate's extraction
    assert extract_prompt < LIMIT + 20_000, bodies  # the cut text, not the megabyte
    assert "candidate 1 is " in proc.stderr and f"cut to {len(content)}" in proc.stderr
