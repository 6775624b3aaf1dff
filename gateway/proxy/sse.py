"""Server-sent events: an incremental decoder safe at any chunk boundary, and the encoder."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

DONE = b"data: [DONE]\n\n"


class SSEDecoder:
    """Feed bytes as they arrive; get complete events as (event, data) pairs.

    Lines are split on LF (a CR before it is dropped), so a multi-byte character or a CRLF
    split across two reads is handled: nothing is decoded until its line is complete.
    """

    __slots__ = ("_buffer", "_data", "_event")

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []
        self._event: str | None = None

    def feed(self, chunk: bytes) -> list[tuple[str | None, str]]:
        self._buffer += chunk
        events: list[tuple[str | None, str]] = []
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                return events
            raw, self._buffer = self._buffer[:end], self._buffer[end + 1:]
            event = self._line(raw[:-1] if raw.endswith(b"\r") else raw)
            if event is not None:
                events.append(event)

    def flush(self) -> list[tuple[str | None, str]]:
        """Events still pending when the stream ends without a final blank line."""
        events = self.feed(b"\n") if self._buffer else []
        if self._data:
            events.append((self._event, "\n".join(self._data)))
            self._data, self._event = [], None
        return events

    def _line(self, raw: bytes) -> tuple[str | None, str] | None:
        if not raw:
            if not self._data:
                self._event = None
                return None
            event = (self._event, "\n".join(self._data))
            self._data, self._event = [], None
            return event
        line = raw.decode("utf-8", errors="replace")
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None


async def decode(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[str | None, str]]:
    """Decode an async byte stream into SSE events."""
    decoder = SSEDecoder()
    async for chunk in chunks:
        for event in decoder.feed(chunk):
            yield event
    for event in decoder.flush():
        yield event


def encode_event(data: Mapping[str, Any] | str, event: str | None = None) -> bytes:
    """One SSE event; dicts are JSON-encoded compactly."""
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"),
                                                          ensure_ascii=False)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {text}\n\n".encode()
