"""The four stages: small typed async functions that build prompts and read replies."""

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
