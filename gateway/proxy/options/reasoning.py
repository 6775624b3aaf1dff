"""The `reasoning` channel option: split `<think>` blocks out of content, or merge them back.

`split` serves upstreams that write their reasoning inline (`<think>…</think>` before the
answer); `merge` serves clients that cannot show `reasoning_content`. Both work on complete
answers and on streams, where a tag may be cut anywhere between two chunks.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Mapping
from typing import Any

OPEN, CLOSE = "<think>", "</think>"


def _held_prefix(text: str, tag: str) -> int:
    """Length of the longest tail of `text` that could still grow into `tag`."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


class ThinkSplitter:
    """Feed content pieces; get (reasoning, content) pieces back, tags removed.

    Only a think block that opens the answer (after optional whitespace) counts: a `<think>`
    later in an answer is the answer's own text. Whitespace right after either tag is dropped.
    """

    __slots__ = ("_state", "_pending")

    def __init__(self) -> None:
        self._state = "start"  # start -> open -> think -> after -> content
        self._pending = ""

    def feed(self, text: str) -> tuple[str, str]:
        text, self._pending = self._pending + text, ""
        reasoning: list[str] = []
        content: list[str] = []
        while text:
            if self._state == "start":
                stripped = text.lstrip()
                if stripped.startswith(OPEN):
                    self._state, text = "open", stripped[len(OPEN) :]
                elif OPEN.startswith(stripped):
                    self._pending, text = text, ""
                else:
                    self._state = "content"
            elif self._state == "open":
                text = text.lstrip()
                if text:
                    self._state = "think"
            elif self._state == "think":
                end = text.find(CLOSE)
                if end >= 0:
                    reasoning.append(text[:end])
                    self._state, text = "after", text[end + len(CLOSE) :]
                else:
                    keep = _held_prefix(text, CLOSE)
                    reasoning.append(text[: len(text) - keep])
                    self._pending, text = text[len(text) - keep :], ""
            elif self._state == "after":
                text = text.lstrip()
                if text:
                    self._state = "content"
            else:
                content.append(text)
                text = ""
        return "".join(reasoning), "".join(content)

    def flush(self) -> tuple[str, str]:
        """What is still held back when the answer ends: never a tag, so it is plain text."""
        pending, self._pending = self._pending, ""
        if self._state in ("open", "think"):
            return pending, ""
        return "", pending if self._state in ("start", "content") else ""


def split_text(text: str) -> tuple[str, str]:
    """(reasoning, content) of one complete answer."""
    splitter = ThinkSplitter()
    reasoning, content = splitter.feed(text)
    more_reasoning, more_content = splitter.flush()
    return reasoning + more_reasoning, content + more_content


def merged_text(reasoning: str, content: str) -> str:
    """Reasoning put back in front of the content, the way reasoning models write it inline."""
    return f"{OPEN}\n{reasoning}\n{CLOSE}\n\n{content}"


def split_reply(body: Mapping[str, Any]) -> dict[str, Any]:
    """A chat completion with inline think blocks moved to `reasoning_content`."""
    out = copy.deepcopy(dict(body))
    for choice in out.get("choices") or ():
        message = choice.get("message") or {}
        if isinstance(message.get("content"), str):
            reasoning, content = split_text(message["content"])
            if reasoning:
                message["reasoning_content"] = (message.get("reasoning_content") or "") + reasoning
            message["content"] = content
    return out


def merge_reply(body: Mapping[str, Any]) -> dict[str, Any]:
    """A chat completion with `reasoning_content` moved into the content."""
    out = copy.deepcopy(dict(body))
    for choice in out.get("choices") or ():
        message = choice.get("message") or {}
        reasoning = message.pop("reasoning_content", None)
        if reasoning:
            message["content"] = merged_text(reasoning, message.get("content") or "")
    return out


def _has_news(chunk: Mapping[str, Any]) -> bool:
    """Whether a chunk still says anything once its delta lost its text."""
    if chunk.get("usage") or not chunk.get("choices"):
        return True
    return any(c.get("delta") or c.get("finish_reason") for c in chunk["choices"])


async def split_stream(chunks: AsyncIterator[dict]) -> AsyncIterator[dict]:
    """Stream chunks with inline think blocks moved to `reasoning_content`, per choice."""
    splitters: dict[int, ThinkSplitter] = {}
    last: dict | None = None
    for_flush: set[int] = set()
    async for chunk in chunks:
        last = chunk
        for choice in chunk.get("choices") or ():
            index = choice.get("index", 0)
            splitter = splitters.setdefault(index, ThinkSplitter())
            delta = choice.setdefault("delta", {})
            reasoning, content = "", ""
            if isinstance(delta.get("content"), str):
                reasoning, content = splitter.feed(delta.pop("content"))
                for_flush.add(index)
            if choice.get("finish_reason") and index in for_flush:
                more_reasoning, more_content = splitter.flush()
                reasoning, content = reasoning + more_reasoning, content + more_content
                for_flush.discard(index)
            _put(delta, reasoning, content)
        if _has_news(chunk):
            yield chunk
    tail = [(i, splitters[i].flush()) for i in sorted(for_flush)]
    tail = [(i, parts) for i, parts in tail if any(parts)]
    if tail:
        yield _tail_chunk(last or {}, tail)


def _put(delta: dict, reasoning: str, content: str) -> None:
    if reasoning:
        delta["reasoning_content"] = (delta.get("reasoning_content") or "") + reasoning
    if content:
        delta["content"] = content


def _tail_chunk(like: Mapping[str, Any], parts: list[tuple[int, tuple[str, str]]]) -> dict:
    choices = []
    for index, (reasoning, content) in parts:
        delta: dict[str, Any] = {}
        _put(delta, reasoning, content)
        choices.append({"index": index, "delta": delta, "finish_reason": None})
    keys = ("id", "object", "created", "model")
    return {**{k: like[k] for k in keys if k in like}, "choices": choices}


async def merge_stream(chunks: AsyncIterator[dict]) -> AsyncIterator[dict]:
    """Stream chunks with `reasoning_content` deltas turned into think-wrapped content."""
    thinking: dict[int, bool] = {}  # choice index -> inside an opened think block
    async for chunk in chunks:
        for choice in chunk.get("choices") or ():
            index = choice.get("index", 0)
            delta = choice.setdefault("delta", {})
            reasoning = delta.pop("reasoning_content", None)
            text = ""
            if reasoning:
                text = reasoning if thinking.get(index) else f"{OPEN}\n{reasoning}"
                thinking[index] = True
            answer_starts = (
                delta.get("content") or delta.get("tool_calls") or choice.get("finish_reason")
            )
            if thinking.get(index) and answer_starts:
                text += f"\n{CLOSE}\n\n"
                thinking[index] = False
            if text:
                delta["content"] = text + (delta.get("content") or "")
        if _has_news(chunk):
            yield chunk
