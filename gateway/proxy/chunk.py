"""A streamed chunk carried as the JSON bytes to send, parsed only when someone reads it."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import orjson


def loads(raw: bytes | str) -> Any:
    """An upstream's JSON, by orjson (a few times the stdlib's speed on stream events and
    answers); what orjson refuses but the stdlib reads (NaN, a lone surrogate escaped) read
    as before, by the stdlib, whose errors callers already turn into protocol errors."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


class LazyJSON(Mapping[str, Any]):
    """A JSON object kept as the bytes it came in, parsed on first read, readable as a
    mapping. `data` must not be edited: whoever needs to change it takes a copy."""

    __slots__ = ("raw", "_data")

    def __init__(self, raw: bytes, data: dict[str, Any] | None = None) -> None:
        self.raw = raw
        self._data = data

    @property
    def data(self) -> dict[str, Any]:
        if self._data is None:
            self._data = loads(self.raw)
        return self._data

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


class RawChunk(LazyJSON):
    """One `chat.completion.chunk` as JSON bytes ready to relay, readable as a mapping.

    `plain` says the producer checked that the chunk carries nothing but choice deltas
    (no usage, no finish reason, no error): a consumer looking for those may skip it
    without parsing.
    """

    __slots__ = ("plain",)

    def __init__(self, raw: bytes, data: dict[str, Any] | None = None, plain: bool = False) -> None:
        self.raw = raw
        self.plain = plain
        self._data = data

    def dicts(self) -> list[dict[str, Any]]:
        """The event(s) carried, parsed."""
        return [self.data]

    def __repr__(self) -> str:
        return f"RawChunk({self.raw!r})"


class RawEvents(RawChunk):
    """Several plain `chat.completion.chunk` events of one upstream read, framed as OpenAI's
    chat SSE gives them (`data: {...}\n\n` each): relayed to a chat client in one write,
    never parsed on the way, or taken apart by a consumer that translates them (`chunks`).
    Only consumers that take them get them (the call's `event_runs`)."""

    __slots__ = ("count",)

    def __init__(self, framed: bytes, count: int) -> None:
        super().__init__(framed, None, True)
        self.count = count

    @property
    def data(self) -> dict[str, Any]:
        raise TypeError("RawEvents hold several events: read them with dicts()")

    def dicts(self) -> list[dict[str, Any]]:
        return [loads(event[6:]) for event in self.raw.split(b"\n\n") if event]

    def chunks(self, start: int = 0) -> list[RawChunk]:
        """The events from byte `start` (an event's first) one by one, each a plain
        RawChunk, unparsed."""
        return [
            RawChunk(event[6:], None, True) for event in self.raw[start:].split(b"\n\n") if event
        ]

    def __repr__(self) -> str:
        return f"RawEvents({self.count} events)"


def as_dict(chunk: Mapping[str, Any]) -> dict[str, Any]:
    """A chunk as a dict its consumer may edit in place."""
    if isinstance(chunk, RawChunk):
        return chunk.data
    return chunk  # type: ignore[return-value]  # adapters yield fresh dicts
