"""The SSE decoder, and the reads of a stream relayed event by event or in runs.

Compiled by mypyc (setup.py), as every streamed read passes through both: `RawReads` is
written as a class with `async def __anext__`, since mypyc compiles no async generator.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from gateway.errors import UpstreamProtocolError

#: The largest event an upstream may send: a stream is relayed event by event, and an
#: event that never ends would otherwise be buffered whole.
MAX_EVENT_BYTES = 16 * 1024 * 1024

#: Takes what it can relay whole from the start of bytes at an event boundary: (what it
#: took, or None, and the bytes left to decode event by event).
TakeWhole = Callable[[bytes], tuple[Any, bytes]]


class SSEDecoder:
    """Feed bytes as they arrive; get complete events as (event, data) pairs.

    Lines are split on LF (a CR before it is dropped), so a multi-byte character or a CRLF
    split across two reads is handled: nothing is decoded until its line is complete.
    `feed_raw` gives the data as the upstream's bytes, for relaying without a decode.
    """

    __slots__ = ("_buffer", "_data", "_event")

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[bytes] = []
        self._event: str | None = None

    def feed(self, chunk: bytes) -> list[tuple[str | None, str]]:
        return [
            (event, data.decode("utf-8", errors="replace")) for event, data in self.feed_raw(chunk)
        ]

    def feed_raw(self, chunk: bytes) -> list[tuple[str | None, bytes]]:
        """Like `feed`, with each event's data as bytes."""
        buffer = self._buffer + chunk if self._buffer else chunk
        events: list[tuple[str | None, bytes]] = []
        find = buffer.find
        pos = 0
        # One pass with a moving start: slicing the rest of the buffer per line would copy
        # it once for every line of a large read.
        while (end := find(b"\n", pos)) >= 0:
            line = buffer[pos:end]
            pos = end + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            if line.startswith(b"data:"):
                self._data.append(line[6:] if line.startswith(b"data: ") else line[5:])
            elif not line:
                if self._data:
                    data = self._data
                    events.append((self._event, data[0] if len(data) == 1 else b"\n".join(data)))
                    self._data = []
                self._event = None
            elif line == b"data":
                self._data.append(b"")
            else:
                self._field(line)
        self._buffer = buffer[pos:]
        if len(self._buffer) > MAX_EVENT_BYTES or (
            len(self._data) > 1 and sum(map(len, self._data)) > MAX_EVENT_BYTES
        ):
            raise UpstreamProtocolError(
                f"upstream sent a stream event larger than {MAX_EVENT_BYTES} bytes"
            )
        return events

    def at_boundary(self) -> bool:
        """No event begun but a line not yet complete (see `take_buffer`)."""
        return not self._data and self._event is None

    def take_buffer(self) -> bytes:
        """The bytes of the line not yet complete, handed back (the decoder forgets them)."""
        buffer, self._buffer = self._buffer, b""
        return buffer

    def _field(self, line: bytes) -> None:
        if line.startswith(b":"):
            return  # a comment (keep-alive)
        name, _, value = line.partition(b":")
        if name == b"event":
            self._event = (value[1:] if value.startswith(b" ") else value).decode(
                "utf-8", errors="replace"
            )

    def flush(self) -> list[tuple[str | None, str]]:
        """Events still pending when the stream ends without a final blank line."""
        return [(event, data.decode("utf-8", errors="replace")) for event, data in self.flush_raw()]

    def flush_raw(self) -> list[tuple[str | None, bytes]]:
        events = self.feed_raw(b"\n") if self._buffer else []
        if self._data:
            events.append((self._event, b"\n".join(self._data)))
            self._data, self._event = [], None
        return events


class RawReads:
    """The events of each read together (one hop per read, not per event): each event's
    data as bytes, and whether a blank line ended it (False for an event the stream's end
    cut off, which may be incomplete).

    With `take_whole`, each read that starts at an event boundary is offered to it first,
    and what it takes is given as it returned it, before the events of the rest. The reads
    are closed once the stream ends, fails, or is closed (`aclose`) before its end.
    """

    __slots__ = ("_chunks", "_take_whole", "_decoder", "_rest", "_open")

    def __init__(self, chunks: AsyncIterator[bytes], take_whole: TakeWhole | None) -> None:
        self._chunks = chunks
        self._take_whole = take_whole
        self._decoder = SSEDecoder()
        self._rest: bytes | None = None  # a read's bytes after what was taken whole
        self._open = True

    def __aiter__(self) -> RawReads:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self._next()
        except BaseException:  # the end (StopAsyncIteration) included: the reads are closed
            await self.aclose()
            raise

    async def _next(self) -> Any:
        decoder = self._decoder
        rest = self._rest
        if rest is not None:
            self._rest = None
            events = decoder.feed_raw(rest)
            if events:
                return [(data, True) for _event, data in events]
        while self._open:
            try:
                chunk = await self._chunks.__anext__()
            except StopAsyncIteration:
                self._open = False
                events = decoder.flush_raw()
                if events:
                    return [(data, False) for _event, data in events]
                break
            take_whole = self._take_whole
            if take_whole is not None and decoder.at_boundary():
                start = decoder.take_buffer()  # mostly b"": `+` would copy the read anyway
                whole, chunk = take_whole(start + chunk if start else chunk)
                if whole is not None:
                    if chunk:
                        self._rest = chunk
                    return whole
            events = decoder.feed_raw(chunk)
            if events:
                return [(data, True) for _event, data in events]
        raise StopAsyncIteration

    async def aclose(self) -> None:
        self._open = False
        self._rest = None
        await aclose(self._chunks)


async def aclose(iterator: AsyncIterator[Any]) -> None:
    """Close an async generator left before its end, now rather than when it is collected.

    A generator collected unfinished is closed by the event loop's finaliser hook: a task and
    a wake-up of the loop through its self-pipe for every stream a consumer stopped reading
    (at `[DONE]`, say). Iterators that are not generators have nothing to close.
    """
    close = getattr(iterator, "aclose", None)
    if close is not None:
        await close()
