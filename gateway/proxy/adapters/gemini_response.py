"""Gemini's generateContent answers and streamed events read back as OpenAI chat completions."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

#: Gemini finish reasons to OpenAI's; anything unknown ends the answer normally.
FINISH_REASONS: Mapping[str, str] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "LANGUAGE": "content_filter",
}

#: Gemini wants the thought signature of a function call back with it; it rides in the id.
SIGNATURE_MARK = "~sig~"


def new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


def tool_call(part: Mapping[str, Any]) -> dict[str, Any]:
    fn = part["functionCall"]
    call_id = new_id("call_")
    if part.get("thoughtSignature"):
        call_id += SIGNATURE_MARK + part["thoughtSignature"]
    return {
        "id": call_id,
        "type": "function",
        "function": {
            "name": fn.get("name", ""),
            "arguments": json.dumps(fn.get("args") or {}, ensure_ascii=False),
        },
    }


def finish_reason(reason: str | None, called: bool) -> str | None:
    if reason is None:
        return None
    mapped = FINISH_REASONS.get(reason, "stop")
    return "tool_calls" if called and mapped == "stop" else mapped


def usage(meta: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Gemini's usageMetadata as OpenAI usage; thoughts count as completion tokens."""
    if not meta:
        return None
    prompt = meta.get("promptTokenCount", 0) + meta.get("toolUsePromptTokenCount", 0)
    thoughts = meta.get("thoughtsTokenCount", 0)
    completion = meta.get("candidatesTokenCount", 0) + thoughts
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": meta.get("totalTokenCount", prompt + completion),
        "prompt_tokens_details": {"cached_tokens": meta.get("cachedContentTokenCount", 0)},
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }


def _split_parts(parts: Sequence[Mapping[str, Any]]) -> tuple[str, str, list[dict]]:
    """(text, thoughts, tool calls) of a candidate's parts."""
    text, thoughts, calls = [], [], []
    for part in parts:
        if "functionCall" in part:
            calls.append(tool_call(part))
        elif part.get("thought"):
            thoughts.append(part.get("text", ""))
        elif "text" in part:
            text.append(part["text"])
    return "".join(text), "".join(thoughts), calls


def completion(data: Mapping[str, Any], *, model: str, created: int) -> dict[str, Any]:
    """A chat.completion from a generateContent answer."""
    choices = []
    for i, candidate in enumerate(data.get("candidates") or ()):
        parts = (candidate.get("content") or {}).get("parts") or ()
        text, thoughts, calls = _split_parts(parts)
        message: dict[str, Any] = {"role": "assistant", "content": text or None}
        if thoughts:
            message["reasoning_content"] = thoughts
        if calls:
            message["tool_calls"] = calls
        reason = finish_reason(candidate.get("finishReason"), bool(calls)) or "stop"
        choices.append(
            {
                "index": candidate.get("index", i),
                "message": message,
                "finish_reason": reason,
                "logprobs": None,
            }
        )
    if not choices:  # the prompt itself was blocked (promptFeedback.blockReason)
        choices.append(
            {
                "index": 0,
                "message": {"role": "assistant", "content": None},
                "finish_reason": "content_filter",
                "logprobs": None,
            }
        )
    out = {
        "id": "chatcmpl-" + (data.get("responseId") or secrets.token_hex(12)),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": choices,
    }
    found = usage(data.get("usageMetadata"))
    if found:
        out["usage"] = found
    return out


class ChunkConverter:
    """Turns streamGenerateContent events (each a partial answer) into chat.completion.chunks."""

    def __init__(self, *, model: str, created: int) -> None:
        self.id = new_id("chatcmpl-")
        self.model = model
        self.created = created
        self.usage: dict[str, Any] | None = None
        self.finished = False
        self._started: set[int] = set()
        self._calls: dict[int, int] = {}  # candidate index -> tool calls sent so far

    def _chunk(self, index: int, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": index, "delta": delta, "finish_reason": finish}],
        }

    def feed(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The chunks one upstream event becomes (none for an event without news)."""
        self.usage = usage(event.get("usageMetadata")) or self.usage
        out = []
        for i, candidate in enumerate(event.get("candidates") or ()):
            index = candidate.get("index", i)
            text, thoughts, calls = _split_parts(
                (candidate.get("content") or {}).get("parts") or ()
            )
            delta: dict[str, Any] = {}
            if index not in self._started:
                self._started.add(index)
                delta["role"] = "assistant"
            if thoughts:
                delta["reasoning_content"] = thoughts
            if text:
                delta["content"] = text
            if calls:
                sent = self._calls.get(index, 0)
                delta["tool_calls"] = [{"index": sent + k, **c} for k, c in enumerate(calls)]
                self._calls[index] = sent + len(calls)
            finish = finish_reason(candidate.get("finishReason"), index in self._calls)
            self.finished = self.finished or finish is not None
            if delta or finish:
                out.append(self._chunk(index, delta, finish))
        if not event.get("candidates") and (event.get("promptFeedback") or {}).get("blockReason"):
            self.finished = True
            out.append(self._chunk(0, {"role": "assistant"}, "content_filter"))
        return out

    def end(self) -> list[dict[str, Any]]:
        """The usage chunk, last, as OpenAI sends it with stream_options.include_usage."""
        if self.usage is None:
            return []
        return [
            {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [],
                "usage": self.usage,
            }
        ]
