"""What one request used, measured as its answer goes out: timing, and the upstream's usage
report or the documented estimate (one token per four characters, images by OpenAI's tile
rule: gateway/usage/vision.py; marked `estimated`).

A stream's plain chunks (no usage in them) are parsed only if the estimate is ever needed,
which is when the upstream sends no usage report. Until then they are kept as the bytes
relayed, up to SAMPLE_BYTES a stream; past that only their size is noted, and the output
characters of those bytes are estimated at the sample's characters per byte. A stream
therefore holds at most SAMPLE_BYTES and one upstream read for its estimate, however long
it runs."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.proxy.chunk import RawChunk
from gateway.usage import vision
from gateway.usage.pricing import (
    Usage,
    count,
    estimate_tokens,
    is_mapping,
    prompt_text,
    usage_from_openai,
)

#: The bytes of plain chunks a stream keeps for a late output estimate (about 60 events of
#: OpenAI's); the rest is estimated at their characters per byte.
SAMPLE_BYTES = 16 * 1024


@dataclass(slots=True, init=False)  # per request: a compiled __init__ (docs/development.md)
class Meter:
    """Timing and usage of one request, filled in as the answer goes out."""

    endpoint: str
    requested_model: str
    body: Mapping[str, Any]
    started: float
    first_chunk: float | None
    reported: Mapping[str, Any] | None  # the upstream's usage object, if it sent one
    output_chars: int
    tool_calls: dict[str, int]
    sample: list[RawChunk]  # plain chunks not yet counted
    sample_bytes: int
    unsampled_bytes: int  # plain chunks past the sample: only their size is kept

    def __init__(self, endpoint: str, requested_model: str, body: Mapping[str, Any]) -> None:
        self.endpoint = endpoint
        self.requested_model = requested_model
        self.body = body
        self.started = time.perf_counter()
        self.first_chunk = None
        self.reported = None
        self.output_chars = 0
        self.tool_calls = {}
        self.sample = []
        self.sample_bytes = 0
        self.unsampled_bytes = 0

    def observe(self, chunk: Mapping[str, Any]) -> None:
        """One streamed chunk: remember usage, count output for the estimate."""
        if self.first_chunk is None:
            self.first_chunk = time.perf_counter()
        if isinstance(chunk, RawChunk):
            if chunk.plain:  # no usage in it: parsed only if the estimate is ever needed
                if self.reported is None:
                    if self.sample_bytes < SAMPLE_BYTES:
                        self.sample.append(chunk)
                        self.sample_bytes += len(chunk.raw)
                    else:
                        self.unsampled_bytes += len(chunk.raw)
                return
            chunk = chunk.data
        usage = chunk.get("usage")
        if usage:
            self.reported = usage
            self.sample.clear()
            self.sample_bytes = self.unsampled_bytes = 0
        self._count(chunk)

    def _count(self, chunk: Mapping[str, Any]) -> None:
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            return
        for choice in choices:
            delta = choice.get("delta") if isinstance(choice, Mapping) else None
            if not isinstance(delta, Mapping):
                continue
            for key in ("content", "reasoning_content"):
                text = delta.get(key)
                if isinstance(text, str):
                    self.output_chars += len(text)
            calls = delta.get("tool_calls")
            for call in calls if isinstance(calls, list) else ():
                function = call.get("function") if isinstance(call, Mapping) else None
                args = function.get("arguments") if isinstance(function, Mapping) else None
                if isinstance(args, str):
                    self.output_chars += len(args)

    def _count_sample(self) -> None:
        """Count the sample's output characters, and those of the bytes past it at the
        sample's characters per byte."""
        before = self.output_chars
        for chunk in self.sample:
            for data in chunk.dicts():
                self._count(data)
        if self.unsampled_bytes and self.sample_bytes:
            sampled = self.output_chars - before
            self.output_chars += self.unsampled_bytes * sampled // self.sample_bytes
        self.sample.clear()
        self.sample_bytes = self.unsampled_bytes = 0

    def observe_reply(self, body: Mapping[str, Any] | None) -> None:
        if body is not None and body.get("usage"):
            self.reported = body["usage"]

    def usage(self) -> Usage:
        """Usage of a chat or embeddings request (media endpoints measure their own)."""
        if self.sample:
            self._count_sample()
        reported = usage_from_openai(self.reported)
        tools = _tool_calls(self.reported)
        if self.endpoint in ("chat", "embeddings"):
            if reported is not None:
                return _with_tools(reported, tools)
            return Usage(
                input_tokens=estimate_tokens(prompt_text(self.body))
                + vision.prompt_image_tokens(self.body),
                output_tokens=(self.output_chars + 3) // 4,
                estimated=True,
            )
        return Usage()


def _tool_calls(reported: Any) -> dict[str, int]:
    """The native tool calls an upstream reported, as non-negative counts by tool name."""
    calls = reported.get("native_tool_calls") if is_mapping(reported) else None
    if not is_mapping(calls):
        return {}
    out = {}
    for name, value in calls.items():
        number = count(value)
        if number:
            out[str(name)] = number
    return out


def _with_tools(usage: Usage, tools: Mapping[str, int]) -> Usage:
    if not tools:
        return usage
    return dataclasses.replace(usage, tool_calls=dict(tools))
