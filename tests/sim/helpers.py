"""Prompts and request helpers shared by the simulator tests."""

from __future__ import annotations

import json
from typing import Any

import httpx

BRIEF = """<brief>
<topic>Remote work productivity</topic>
<audience>small business owners</audience>
<tone>friendly</tone>
<keywords>remote teams, async communication, focus time</keywords>
<words>600</words>
<call_to_action>Book a free 20-minute consultation</call_to_action>
</brief>"""

CRITERIA = """<criteria>
- hook_strength: how strongly the opening pulls the reader in
- audience_fit: how well it speaks to the audience
- clarity_structure: clear sections and flow
- originality: a fresh angle
- cta_clarity: an unmistakable next step
- claim_verifiability: claims a reader could check
</criteria>"""

CARD_FIELDS = {
    "title",
    "hook",
    "summary",
    "key_points",
    "audience",
    "tone",
    "claims",
    "call_to_action",
    "keywords",
}


def chat(content: str | list[dict[str, str]], **extra: Any) -> dict[str, Any]:
    messages = content if isinstance(content, list) else [{"role": "user", "content": content}]
    return {"model": "sim-1", "messages": messages, **extra}


def candidate_prompt(angle: str) -> str:
    return f"Write a blog post.\n{BRIEF}\n<angle>{angle}</angle>"


def reply_text(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    content = response.json()["choices"][0]["message"]["content"]
    assert isinstance(content, str)
    return content


def reply_json(response: httpx.Response) -> Any:
    return json.loads(reply_text(response))
