"""What a marketer needs to publish a post: a slug, a title that fits, keywords worth having.

Models write titles of any length and keywords like "growing" or "down"; search engines cut
titles near 60-70 characters and ignore stop words. These rules are deterministic, so a post
replayed from the store gets the same front matter.
"""

from __future__ import annotations

import re

from slugify import slugify

__all__ = [
    "MAX_KEYWORDS",
    "MAX_SLUG",
    "MAX_TITLE",
    "post_keywords",
    "seo_title",
    "slug_for",
    "topic_keywords",
]

MAX_SLUG = 60
MAX_TITLE = 70
MAX_KEYWORDS = 8

# Words that never make a keyword alone, in the languages the packaged prompts are tried with.
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "how",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "our",
        "the",
        "their",
        "this",
        "to",
        "vs",
        "why",
        "with",
        "without",
        "your",
        "you",
        "we",
        "what",
        "when",
        "who",
        "will",
        "can",
        "not",
        "do",
        "does",
        "more",
        "most",
        "less",
        "best",
        "new",
        "get",
        "make",
        "down",
        "up",
        "out",
        "over",
        "very",
        "just",
        "than",
        "then",
        "so",
        "no",
        "all",
        "any",
        "each",
        "every",
        "own",
        "only",
        "also",
        "и",
        "в",
        "во",
        "на",
        "не",
        "без",
        "для",
        "по",
        "из",
        "к",
        "ко",
        "от",
        "до",
        "о",
        "об",
        "а",
        "но",
        "или",
        "что",
        "как",
        "это",
        "при",
        "над",
        "под",
        "про",
        "же",
        "ли",
        "der",
        "die",
        "das",
        "und",
        "oder",
        "mit",
        "ohne",
        "für",
        "von",
        "zu",
        "im",
        "am",
        "ein",
        "eine",
        "le",
        "la",
        "les",
        "des",
        "et",
        "ou",
        "pour",
        "sans",
        "avec",
        "el",
        "los",
        "las",
        "y",
        "con",
        "sin",
        "para",
        "del",
        "de",
        "du",
    ]
)
_WORD = re.compile(r"[\w][\w'’-]*", re.UNICODE)
_CLAUSE = re.compile(r"[,;:!?()\[\]\"“”«»。，、：；！？]|\s[-–—]\s")


def slug_for(title: str) -> str:
    """A URL slug: transliterated to ASCII, cut at a word boundary, at most `MAX_SLUG` long."""
    slug = slugify(title, max_length=MAX_SLUG, word_boundary=True, save_order=True)
    return slug or "post"


def seo_title(title: str) -> str | None:
    """A title for search results when `title` is longer than `MAX_TITLE`, else None."""
    title = " ".join(title.split())
    if len(title) <= MAX_TITLE:
        return None
    words = title[: MAX_TITLE + 1].rsplit(" ", 1)[0].split()
    while len(words) > 1 and words[-1].lower().strip(",;:–—-") in _STOP:
        words.pop()  # "... Changes and" reads cut off; "... Changes" does not
    cut = " ".join(words).rstrip(" ,;:–—-")
    return cut if cut else title[:MAX_TITLE]


def topic_keywords(topic: str) -> list[str]:
    """Key phrases of a topic: its runs of words between stop words, longest first.

    "Continuous delivery for small teams" -> ["continuous delivery", "small teams"]. A topic in
    a script without spaces (Chinese, Japanese) is one phrase.
    """
    first_line = topic.strip().splitlines()[0] if topic.strip() else ""
    phrases: list[str] = []
    for clause in _CLAUSE.split(first_line.lower()):
        run: list[str] = []
        for word in [*_WORD.findall(clause), ""]:
            if word and word not in _STOP:
                run.append(word)
                continue
            if run:
                phrases.append(" ".join(run))
            run = []
    useful = [p for p in phrases if len(p) >= 3 or not p.isascii()]
    return _dedupe(sorted(useful, key=len, reverse=True))[:MAX_KEYWORDS]


def post_keywords(
    brief_keywords: list[str], draft_keywords: list[str], post_text: str
) -> list[str]:
    """The brief's keywords, then the model's that are phrases the post really uses.

    A model keyword is kept when it is not a stop word, it appears in the post, and it is a
    phrase (two words or more) or a single word of the brief's own keywords.
    """
    text = " ".join(_WORD.findall(post_text.lower()))
    brief_words = {w for k in brief_keywords for w in _WORD.findall(k.lower())}
    kept = []
    for keyword in draft_keywords:
        words = _WORD.findall(keyword.lower())
        if not words or all(w in _STOP for w in words):
            continue
        phrase = " ".join(words)
        if f" {phrase} " not in f" {text} ":
            continue
        if len(words) >= 2 or phrase in brief_words:
            kept.append(keyword.strip())
    return _dedupe([*brief_keywords, *kept])[:MAX_KEYWORDS]


def _dedupe(items: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for item in items:
        key = " ".join(item.lower().split())
        if key and key not in seen:
            seen.add(key)
            out.append(item)
    return out
