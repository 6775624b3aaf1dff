"""What each request used and cost: measured from the answer, logged and counted off the path.

The proxy calls `meter(...)` once per request, feeds streamed chunks to `StreamMeter.observe`,
and calls `Accountant.finish(...)` when the answer is complete (or failed). Usage comes from
the upstream's own report where there is one; otherwise from the documented estimate (one
token per four characters) and is marked `estimated`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.catalog.snapshot import Channel, Model, NativeTool
from gateway.proxy.chunk import RawChunk
from gateway.usage import metrics
from gateway.usage.log import UsageLog, request_line
from gateway.usage.pricing import (
    Cost,
    Usage,
    cost_of,
    count,
    estimate_tokens,
    usage_from_openai,
)
from gateway.usage.stats import Stats

#: Plain chunks kept for a late output estimate before they are counted right away.
PENDING_BYTES = 256 * 1024

log = logging.getLogger("modelyard.usage")


@dataclass(slots=True)
class Meter:
    """Timing and usage of one request, filled in as the answer goes out."""

    endpoint: str
    requested_model: str
    body: Mapping[str, Any]
    started: float = field(default_factory=time.perf_counter)
    first_chunk: float | None = None
    reported: Mapping[str, Any] | None = None  # the upstream's usage object, if it sent one
    output_chars: int = 0
    tool_calls: dict[str, int] = field(default_factory=dict)
    pending: list[RawChunk] = field(default_factory=list)  # plain chunks not yet counted
    pending_bytes: int = 0

    def observe(self, chunk: Mapping[str, Any]) -> None:
        """One streamed chunk: remember usage, count output for the estimate."""
        if self.first_chunk is None:
            self.first_chunk = time.perf_counter()
        if isinstance(chunk, RawChunk):
            if chunk.plain:  # no usage in it: parsed only if the estimate is ever needed
                if self.reported is None:
                    self.pending.append(chunk)
                    self.pending_bytes += len(chunk.raw)
                    if self.pending_bytes > PENDING_BYTES:
                        self._count_pending()
                return
            chunk = chunk.data
        usage = chunk.get("usage")
        if usage:
            self.reported = usage
            self.pending.clear()
            self.pending_bytes = 0
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

    def _count_pending(self) -> None:
        for chunk in self.pending:
            self._count(chunk.data)
        self.pending.clear()
        self.pending_bytes = 0

    def observe_reply(self, body: Mapping[str, Any] | None) -> None:
        if body is not None and body.get("usage"):
            self.reported = body["usage"]

    def usage(self) -> Usage:
        """Usage of a chat or embeddings request (media endpoints measure their own)."""
        if self.pending:
            self._count_pending()
        reported = usage_from_openai(self.reported)
        tools = _tool_calls(self.reported)
        if self.endpoint in ("chat", "embeddings"):
            if reported is not None:
                return _with_tools(reported, tools)
            return Usage(input_tokens=estimate_tokens(_prompt_text(self.body)),
                         output_tokens=(self.output_chars + 3) // 4, estimated=True)
        return Usage()


def _tool_calls(reported: Any) -> dict[str, int]:
    """The native tool calls an upstream reported, as non-negative counts by tool name."""
    calls = reported.get("native_tool_calls") if isinstance(reported, Mapping) else None
    if not isinstance(calls, Mapping):
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
    return Usage(usage.input_tokens, usage.cached_input_tokens, usage.cache_write_tokens,
                 usage.output_tokens, usage.reasoning_tokens, tool_calls=dict(tools))


def _prompt_text(body: Mapping[str, Any]) -> str:
    """The text of the request used for the input estimate (never logged)."""
    if "input" in body:
        value = body["input"]
        return value if isinstance(value, str) else " ".join(map(str, value))
    parts: list[str] = []
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, Mapping) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(p.get("text", "") for p in content if isinstance(p, Mapping))
    return " ".join(parts)


class Accountant:
    """Turns finished requests into a cost, usage log lines and metrics.

    `finish` computes the cost at once (the answer's header carries it) and keeps a record
    of names and numbers, never the request or its body. Every `INTERVAL_S` one event-loop
    callback turns the records that piled up into metrics and log lines in one pass, with
    no callback scheduled per request. Against recording each request in a callback of its
    own, this halved what accounting costs a request in-process (measured with
    `python3 -m benchmarks.proxy.inprocess`): the counting and formatting run warm in a
    tight loop, between none of the proxy's other work.
    """

    INTERVAL_S = 0.1
    MAX_PENDING = 10_000  # records kept before a batch is written at once

    def __init__(self, log: UsageLog, *, metrics_enabled: bool = True,
                 stats: Stats | None = None) -> None:
        self.log = log
        self.metrics_enabled = metrics_enabled
        self.stats = stats  # the upstream attempts of every channel, for their metric
        self._pending: list[tuple[Any, ...]] = []
        self._armed_on: asyncio.AbstractEventLoop | None = None  # the loop that will drain

    def finish(self, meter: Meter, *, request_id: str, consumer: str, model: Model | None,
               channel: Channel | None, upstream: str | None, attempts: int, status: int,
               error_code: str | None, native_tools: Mapping[str, NativeTool],
               usage: Usage | None = None) -> Cost | None:
        """`usage` is given by endpoints that measure it themselves (images, audio)."""
        ended = time.perf_counter()
        if status >= 400:
            usage = Usage()
        elif usage is None:
            usage = meter.usage()
        cost = cost_of(usage, channel.price, native_tools) if channel and status < 400 else None
        if self.metrics_enabled or self.log.enabled:
            first = meter.first_chunk
            self._pending.append((
                time.time(), request_id, consumer, model.name if model else "-",
                meter.requested_model, channel, upstream, meter.endpoint,
                bool(meter.body.get("stream")), attempts, status, error_code,
                ended - meter.started, None if first is None else first - meter.started,
                usage, cost))
            if len(self._pending) >= self.MAX_PENDING:
                self.drain()
            elif self._armed_on is None or self._armed_on.is_closed():
                self._arm()
        return cost

    def _arm(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop: called from plain code, recorded now
            self.drain()
            return
        loop.call_later(self.INTERVAL_S, self.drain)
        self._armed_on = loop

    def drain(self) -> None:
        """Count and log the records that piled up.

        One record's failure never costs another record its line or its counts, and a
        failure in metrics never costs a log line: each is contained and logged.
        """
        self._armed_on = None
        records, self._pending = self._pending, []
        if not records:
            return
        if self.metrics_enabled:
            self._count(records)
        if self.log.enabled:
            lines = []
            for record in records:
                try:
                    lines.append(_log_line(record))
                except Exception:
                    log.exception("usage log line of request %s failed", record[1])
            self.log.write(lines)

    def _count(self, records: list[tuple[Any, ...]]) -> None:
        observe = metrics.observe_request
        for (_, request_id, _, model, _, channel, _, _, _, _, status, _, latency, ttft, usage,
             cost) in records:
            try:
                observe(model, channel.name if channel else "-", status, latency, ttft, usage,
                        cost)
            except Exception:
                log.exception("metrics of request %s failed", request_id)
        try:
            metrics.flush()
            if self.stats is not None:
                metrics.add_attempts(self.stats.take_attempts())
        except Exception:
            log.exception("moving counts into the metrics failed")

    def close(self) -> None:
        """Count and log what is pending, then stop logging."""
        self.drain()
        self.log.close()


def _log_line(record: tuple[Any, ...]) -> str:
    """The usage log line of a record kept by `Accountant.finish`."""
    (when, request_id, consumer, model, requested_model, channel, upstream, endpoint, stream,
     attempts, status, error_code, latency, ttft, usage, cost) = record
    return request_line(
        when, request_id, consumer, model, requested_model, channel and channel.name,
        channel and channel.provider, upstream, endpoint, stream, attempts, status, error_code,
        round(latency * 1000, 2), None if ttft is None else round(ttft * 1000, 2),
        usage.as_dict(), cost.text() if cost else None, cost.currency if cost else None)
