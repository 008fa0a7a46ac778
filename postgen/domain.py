"""The things a run makes: candidates, cards, votes, scores and the post."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "ArticleCandidate",
    "ArticleCard",
    "Brief",
    "CardScore",
    "CriterionStats",
    "CriterionVote",
    "JudgeVote",
    "Post",
    "PostDraft",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Brief(_Strict):
    """What a marketer asks for."""

    topic: str
    audience: str
    tone: str
    keywords: list[str]
    words: int
    call_to_action: str


class ArticleCandidate(_Strict):
    article_id: int
    angle: str
    content: str
    model: str
    words: int = 0  # the content's word count, beside brief.words (0: not counted)
    truncated: bool = False  # the reply stopped at max_tokens: the article is cut off


class ArticleCard(BaseModel):
    """The structured summary of one candidate, as the LLM extracts it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    article_id: int = 0
    title: str = Field(min_length=3)
    hook: str = Field(min_length=3)
    summary: str = Field(min_length=3)
    key_points: list[str] = Field(min_length=1, max_length=12)
    audience: str
    tone: str = ""
    claims: list[str] = Field(default_factory=list, max_length=20)
    call_to_action: str
    keywords: list[str] = Field(default_factory=list)


class CriterionVote(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str
    score: float = Field(ge=1, le=10)
    rationale: str = ""


class JudgeVote(BaseModel):
    """One judge's answer for one card."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    criteria: list[CriterionVote] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _keyed_by_name(cls, data: Any) -> Any:
        # The vote schema sent to the server is keyed by criterion, so that a grammar pins
        # every name: {"criteria": {"clarity": {"score": 7, ...}}}. The list form also parses.
        if isinstance(data, dict) and isinstance(data.get("criteria"), dict):
            entries = [
                {"name": name, **(entry if isinstance(entry, dict) else {"score": entry})}
                for name, entry in data["criteria"].items()
            ]
            return {**data, "criteria": entries}
        return data

    def by_name(self) -> dict[str, CriterionVote]:
        return {c.name: c for c in self.criteria}


class CriterionStats(_Strict):
    mean: float
    stdev: float
    votes: list[float]
    rationales: list[str]


class CardScore(_Strict):
    """Every vote for one card, aggregated per criterion and weighted overall."""

    article_id: int
    overall_score: float
    overall_stdev: float
    criteria: dict[str, CriterionStats]
    votes: int
    failed_votes: int


class PostDraft(BaseModel):
    """What the synthesis call returns."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    title: str = Field(min_length=3)
    description: str = Field(min_length=3)
    keywords: list[str] = Field(default_factory=list)
    body_markdown: str = Field(min_length=20)

    @field_validator("description")
    @classmethod
    def _fits_meta_description(cls, value: str) -> str:
        # Search engines cut meta descriptions near 160 characters; trim rather than fail.
        value = " ".join(value.split())
        return value if len(value) <= 160 else value[:157].rstrip() + "..."


class Post(_Strict):
    title: str
    description: str
    seo_title: str | None = None  # set when `title` is too long for search results
    slug: str
    keywords: list[str]
    sources: list[int]
    score: float
    body_markdown: str
