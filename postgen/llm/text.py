"""Error text fit for logs and run.json: secrets out first, then one line of sane length."""

from __future__ import annotations

__all__ = ["MAX_MESSAGE_CHARS", "MIN_SECRET_PREFIX", "clip", "one_line", "redact", "safe_message"]

MAX_MESSAGE_CHARS = 1000  # a server's whole message, short of pasting a stack dump
MIN_SECRET_PREFIX = 8  # a key's prefix this long identifies it as well as the key does
MASK = "***"


def redact(text: str, secret: str | None) -> str:
    """`text` with `secret`, and every run of ≥8 of its leading characters, replaced by ***.

    Servers echo keys back whole or cut ("Incorrect API key provided: sk-abc123**...").
    """
    if not secret or len(secret) < MIN_SECRET_PREFIX:
        return text.replace(secret, MASK) if secret else text
    head = secret[:MIN_SECRET_PREFIX]
    out: list[str] = []
    i = 0
    while (found := text.find(head, i)) >= 0:
        end = found + MIN_SECRET_PREFIX
        while end < len(text) and end - found < len(secret) and text[end] == secret[end - found]:
            end += 1
        out.append(text[i:found])
        out.append(MASK)
        i = end
    out.append(text[i:])
    return "".join(out)


def one_line(text: str) -> str:
    """Whitespace runs (newlines included) collapsed: run.json keeps one line per failure."""
    return " ".join(text.split())


def clip(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def safe_message(text: str, secret: str | None, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Redact, then flatten, then cut: a cut can never leave part of a key behind."""
    return clip(one_line(redact(text, secret)), limit)
