"""Anthropic's streaming events, written from OpenAI chat chunks, in Anthropic's order:
message_start, ping, then per content block content_block_start / content_block_delta... /
content_block_stop, then message_delta (stop reason, usage) and message_stop; `error` ends a
stream that broke off."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gateway.proxy.chunk import RawChunk, RawEvents
from gateway.proxy.clients.messages_chat import STOP_REASONS, anthropic_usage, message_id
from gateway.proxy.exchange import dumps

#: A chunk whose one delta is text alone: where its text starts, as the JSON string it
#: came as, and that string followed by the end of the delta.
_TEXT_ONLY = b'"choices":[{"index":0,"delta":{"content":'
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"(?=\})')
#: The same, found over a run of events at once: each event's text, as a JSON string.
_RUN_TEXT = re.compile(re.escape(_TEXT_ONLY) + rb'("[^"\\]*(?:\\.[^"\\]*)*")(?=\})')
_TEXT_DELTA = (
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,'
    b'"delta":{"type":"text_delta","text":%s}}\n\n'
)


def event(name: str, data: Mapping[str, Any]) -> bytes:
    """One server-sent event as Anthropic writes it: the event name, then its JSON."""
    return b"event: " + name.encode() + b"\ndata: " + dumps(data) + b"\n\n"


# The events every stream has, written once (each is what `event` would write).
PING = event("ping", {"type": "ping"})
MESSAGE_STOP = event("message_stop", {"type": "message_stop"})
_MESSAGE_START = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":%s,"type":"message",'
    b'"role":"assistant","model":%s,"content":[],"stop_reason":null,"stop_sequence":null,'
    b'"usage":{"input_tokens":0,"output_tokens":0}}}\n\n'
)
_MESSAGE_DELTA = (
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"%s",'
    b'"stop_sequence":null},"usage":{"input_tokens":%d,"output_tokens":%d,'
    b'"cache_read_input_tokens":%d,"cache_creation_input_tokens":%d}}\n\n'
)
_BLOCK_STOP = b'event: content_block_stop\ndata: {"type":"content_block_stop","index":%d}\n\n'
_TEXT_START = (
    b'event: content_block_start\ndata: {"type":"content_block_start","index":%d,'
    b'"content_block":{"type":"text","text":""}}\n\n'
)


def error_event(kind: str, message: str) -> bytes:
    return event("error", {"type": "error", "error": {"type": kind, "message": message}})


class MessagesEncoder:
    """Turns the chat chunks of one answer into Anthropic events.

    Chat deltas arrive interleaved by kind; Anthropic content blocks come one at a time, so
    a change of kind (text, thinking, a new tool call) closes the open block and opens the
    next. Usage comes in chat's last chunk, after the finish reason: message_delta waits for
    the end of the stream to carry both.
    """

    def __init__(self, model: str) -> None:
        self.model = model
        self.started = False
        self.index = -1
        self.open: str | None = None  # "text", "thinking" or "tool:<chat tool index>"
        self.stop_reason = "end_turn"
        self.reported: Mapping[str, Any] | None = None  # chat's usage, from the last chunk

    def feed(self, chunk: Mapping[str, Any]) -> bytes:
        if type(chunk) is RawEvents:  # a run of plain events of one upstream read
            return self._run(chunk)
        if self.started and type(chunk) is RawChunk and chunk.plain:
            # The hot path: text for a text block, copied from the upstream's bytes (already
            # a JSON string) without parsing or encoding the chunk.
            raw = chunk.raw
            at = raw.find(_TEXT_ONLY)
            if at >= 0:
                match = _JSON_STRING.match(raw, at + len(_TEXT_ONLY))
                if match is not None:
                    return self._texts([match[0]])
        if type(chunk) is RawChunk:
            chunk = chunk.data
        out = bytearray()
        if not self.started:
            self.started = True
            out += self._start(chunk)
        if chunk.get("usage"):
            self.reported = chunk["usage"]
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("reasoning_content"):
                out += self._block(
                    "thinking", {"type": "thinking", "thinking": "", "signature": ""}
                )
                out += self._delta(
                    {"type": "thinking_delta", "thinking": delta["reasoning_content"]}
                )
            if delta.get("content"):
                out += self._texts([dumps(delta["content"])])
            for call in delta.get("tool_calls") or ():
                out += self._tool(call)
            if choice.get("finish_reason"):
                self.stop_reason = STOP_REASONS.get(choice["finish_reason"], "end_turn")
        return bytes(out)

    def _run(self, run: RawEvents) -> bytes:
        """A run's events: the first alone if it starts the message (it names the answer),
        then, where every other event is a text-only delta, all of them in one pass over the
        run's bytes; else one by one."""
        raw, at, out, count = run.raw, 0, b"", run.count  # `data: {...}\n\n` each
        if not self.started:
            at = raw.index(b"\n\n") + 2
            out, count = self.feed(RawChunk(raw[6 : at - 2], None, True)), count - 1
        texts = _RUN_TEXT.findall(raw, at)
        if len(texts) == count:
            return out + self._texts(texts)
        return out + b"".join([self.feed(chunk) for chunk in run.chunks(at)])

    def _texts(self, texts: list[bytes]) -> bytes:
        """Text deltas (each a JSON string) in the text block, opened for the first text
        that is not empty."""
        texts = [t for t in texts if t != b'""']
        if not texts:
            return b""
        start = self._block("text", {"type": "text", "text": ""})
        index = self.index
        return start + b"".join([_TEXT_DELTA % (index, t) for t in texts])

    def end(self) -> bytes:
        """The events that close a complete answer."""
        out = bytearray()
        if not self.started:
            self.started = True
            out += self._start({})
        out += self._close()
        usage = anthropic_usage(self.reported)
        out += _MESSAGE_DELTA % (
            self.stop_reason.encode(),
            usage["input_tokens"],
            usage["output_tokens"],
            usage["cache_read_input_tokens"],
            usage["cache_creation_input_tokens"],
        )
        out += MESSAGE_STOP
        return bytes(out)

    def _start(self, chunk: Mapping[str, Any]) -> bytes:
        return _MESSAGE_START % (dumps(message_id(chunk.get("id"))), dumps(self.model)) + PING

    def _block(self, kind: str, start: Mapping[str, Any]) -> bytes:
        if self.open == kind:
            return b""
        out = self._close()
        self.index += 1
        self.open = kind
        if kind == "text":
            return out + _TEXT_START % self.index
        return out + event(
            "content_block_start",
            {"type": "content_block_start", "index": self.index, "content_block": start},
        )

    def _delta(self, delta: Mapping[str, Any]) -> bytes:
        return event(
            "content_block_delta",
            {"type": "content_block_delta", "index": self.index, "delta": delta},
        )

    def _tool(self, call: Mapping[str, Any]) -> bytes:
        fn = call.get("function") or {}
        kind = f"tool:{call.get('index', 0)}"
        out = b""
        if self.open != kind:
            out = self._block(
                kind,
                {
                    "type": "tool_use",
                    "id": call.get("id") or "",
                    "name": fn.get("name") or "",
                    "input": {},
                },
            )
        if fn.get("arguments"):
            out += self._delta({"type": "input_json_delta", "partial_json": fn["arguments"]})
        return out

    def _close(self) -> bytes:
        if self.open is None:
            return b""
        self.open = None
        return _BLOCK_STOP % self.index


class NativeUsage:
    """The usage of a native Messages stream, read from its message_start and message_delta
    events (counts in message_delta are cumulative and win)."""

    def __init__(self) -> None:
        self.usage: dict[str, Any] = {}
        self.complete = False

    def observe(self, name: str | None, data: Mapping[str, Any]) -> None:
        kind = data.get("type", name)
        if kind == "message_start":
            self.usage.update((data.get("message") or {}).get("usage") or {})
        elif kind == "message_delta":
            self.usage.update(data.get("usage") or {})
        elif kind == "message_stop":
            self.complete = True
