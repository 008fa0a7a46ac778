"""The four stages: small typed async functions that build prompts and read replies.

A stage gets a `Caller` (postgen.stages.caller) and never builds one. May import: prompts,
llm (types), config, domain, errors.
"""

from postgen.stages.candidates import write_candidate
from postgen.stages.extract import extract_card
from postgen.stages.score import aggregate_votes, score_card, score_vote
from postgen.stages.synthesize import select_top, synthesize_post

__all__ = [
    "aggregate_votes",
    "extract_card",
    "score_card",
    "score_vote",
    "select_top",
    "synthesize_post",
    "write_candidate",
]
