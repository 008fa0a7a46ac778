"""Small text helpers shared by the writers: casing, sentence splitting, word counts."""

from __future__ import annotations

import itertools
import re
from collections import Counter

__all__ = [
    "STOPWORDS",
    "content_words",
    "ensure_period",
    "key_phrases",
    "sentence_topic",
    "sentences",
    "shorten",
    "soft_lower",
    "title_case",
    "word_count",
]

_SMALL = {"a", "an", "the", "and", "or", "but", "for", "of", "to", "in", "on", "at", "by", "vs"}
_SMALL |= {"with", "from", "as", "into", "nor", "per", "via"}
STOPWORDS = _SMALL | {
    "is", "are", "be", "it", "its", "this", "that", "these", "those", "you", "your", "we", "our",
    "they", "their", "them", "not", "no", "can", "will", "more", "most", "what", "how", "why",
    "when", "who", "which", "than", "then", "so", "if", "do", "does", "has", "have", "had",
    "one", "all", "any", "each", "every", "about", "only", "just", "also", "very", "much",
    "many", "out", "up", "get", "make", "was", "were", "been", "being", "there", "here",
    "before", "after", "over", "under", "rather", "less", "same", "own", "even", "still",
    "would", "could", "should", "where", "while", "like", "into", "yourself", "keep",
}  # fmt: skip
_GENERIC = {
    "week", "weeks", "team", "teams", "people", "work", "start", "first", "next", "step", "time",
    "article", "plan", "small", "idea", "ideas", "results", "way", "ways", "thing", "things",
}  # fmt: skip
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"“'*(])")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")


def title_case(text: str) -> str:
    """Title-case words, keeping acronyms and mixed-case names (SEO, SaaS) as written."""
    words = text.split()
    out: list[str] = []
    for i, word in enumerate(words):
        if any(c.isupper() for c in word[1:]) or word.isupper():
            out.append(word)
        elif i > 0 and word.lower() in _SMALL:
            out.append(word.lower())
        else:
            out.append(word[:1].upper() + word[1:])
    return " ".join(out)


def sentence_topic(topic: str) -> str:
    """The topic as it reads mid-sentence: 'Remote work tips' → 'remote work tips'."""
    words = topic.split()
    if len(words) >= 2 and words[0][:1].isupper() and words[0][1:].islower() and words[1].islower():
        return words[0].lower() + topic[len(words[0]) :]
    return topic


def soft_lower(text: str) -> str:
    """Lower-case ordinary words, keep acronyms and names with inner capitals (SLOs, SaaS)."""
    return " ".join("-".join(map(_soft_lower_word, w.split("-"))) for w in text.split())


def _soft_lower_word(word: str) -> str:
    keep = any(c.isupper() for c in word[1:]) or (len(word) > 1 and word.isupper())
    return word if keep else word.lower()


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(" ".join(text.split())) if s.strip()]


def ensure_period(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in ".!?" else text + "."


def shorten(text: str, limit: int) -> str:
    """Cut at a word boundary so that the result, with an ellipsis, has at most `limit` chars."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:—- ")
    return cut + "…"


def word_count(text: str) -> int:
    return len(text.split())


def content_words(text: str) -> list[str]:
    words = (w.lower() for w in _WORD.findall(text))
    return [w for w in words if w not in STOPWORDS and w not in _GENERIC and len(w) > 2]


def key_phrases(text: str, limit: int = 6) -> list[str]:
    """Frequent two-word phrases (seen at least twice), then frequent words, lower-cased."""
    bigrams: Counter[str] = Counter()
    for sentence in sentences(text):
        words = [w.lower() for w in _WORD.findall(sentence)]
        for a, b in itertools.pairwise(words):
            if a not in STOPWORDS and b not in STOPWORDS and len(a) > 2 and len(b) > 2:
                bigrams[f"{a} {b}"] += 1
    phrases = [p for p, n in bigrams.most_common(limit // 2) if n >= 2]
    for word, _ in Counter(content_words(text)).most_common(limit * 2):
        if len(phrases) >= limit:
            break
        if not any(word in p.split() for p in phrases):
            phrases.append(word)
    return phrases
