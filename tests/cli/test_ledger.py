"""Exit codes are an invocation's own: recorded in the open ledger, never in module state."""

from __future__ import annotations

from postgen.cli.ledger import note_codes, recording


def test_an_invocation_exits_with_its_worst_code_and_only_its_own() -> None:
    with recording() as first:
        note_codes([0, 1])
        first.codes.append(0)
    with recording() as second:
        note_codes([0])
    note_codes([2])  # outside any invocation: dropped, not kept for the next one
    assert first.exit_code == 1 and second.exit_code == 0
    assert first.signalled is None


def test_a_signal_stops_the_rest_of_a_sweep() -> None:
    with recording() as ledger:
        note_codes([0, 130])
    assert ledger.signalled == 130 and ledger.exit_code == 130
