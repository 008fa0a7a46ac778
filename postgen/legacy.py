"""
from postgen.compat.legacy import *  # noqa: F403
from postgen.compat.legacy import __all__ as __all__
"""

from postgen.compat.legacy import (
    SCORING_CRITERIA,
    ArticleCandidate,
    ArticleCard,
    ArticleScore,
    ItemError,
    average_score_votes,
    configure,
    extract_all_article_cards,
    extract_all_article_cards_parallel,
    last_errors,
    main,
    score_all_cards_with_voting,
    score_all_cards_with_voting_parallel,
)

__all__ = [
    "SCORING_CRITERIA",
    "ArticleCandidate",
    "ArticleCard",
    "ArticleScore",
    "ItemError",
    "average_score_votes",
    "configure",
    "extract_all_article_cards",
    "extract_all_article_cards_parallel",
    "last_errors",
    "main",
    "score_all_cards_with_voting",
    "score_all_cards_with_voting_parallel",
]
