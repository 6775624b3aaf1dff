"""A tokenizer-free lower bound on a chat prompt's size, to refuse only prompts surely too long.

The rule (documented in docs/capabilities.md): every run of word characters (letters, digits,
underscore) is at least one token, and so is every run of other non-space characters; an image
part is at least 85 tokens (OpenAI's low-detail price) and an audio part at least one token.
Byte-pair and SentencePiece tokenizers split text at those boundaries before merging, so no
tokenizer in use counts fewer; most count two to four times more. A prompt whose lower bound
is over the model's limit is over it for every tokenizer, and is refused without asking the
upstream; every other prompt is left to the upstream, which knows its own tokenizer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

#: Runs that no tokenizer merges across.
_RUNS = re.compile(r"\w+|[^\w\s]+")
IMAGE_MIN_TOKENS = 85


def text_tokens(text: str) -> int:
    """At least this many tokens in `text`."""
    return sum(1 for _ in _RUNS.finditer(text))


def _content_tokens(content: Any) -> int:
    if isinstance(content, str):
        return text_tokens(content)
    total = 0
    for part in content if isinstance(content, list) else ():
        if not isinstance(part, Mapping):
            continue
        kind = part.get("type")
        if kind in ("image_url", "input_image"):
            total += IMAGE_MIN_TOKENS
        elif kind == "input_audio":
            total += 1
        elif isinstance(part.get("text"), str):
            total += text_tokens(part["text"])
    return total


def prompt_tokens(messages: Iterable[Any]) -> int:
    """At least this many input tokens in `messages` (content and tool call arguments)."""
    total = 0
    for message in messages:
        if not isinstance(message, Mapping):
            continue
        total += _content_tokens(message.get("content"))
        for call in message.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, Mapping) else None
            if isinstance(function, Mapping) and isinstance(function.get("arguments"), str):
                total += text_tokens(function["arguments"])
    return total
