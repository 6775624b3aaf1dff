"""Relaying an answer that arrives in pieces: stream chunks as events, or bytes as they come.

Chunks decoded from one upstream read go to the client in one write. The hand-off between
the task reading upstream and the one writing to the client is bounded: a client that stops
reading fills it, and then the upstream is not read any further (its socket buffer fills
and TCP slows the upstream down), so a slow reader costs a bounded amount of memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from gateway.proxy.chunk import RawChunk
from gateway.proxy.exchange import Exchange, Headers, Send, sse_event
from gateway.proxy.meter import Meter

#: Chunks read ahead of a client that has not taken them yet; the upstream waits beyond.
MAX_AHEAD = 64

#: Encodes one chunk as the bytes of its event(s); b"" to send nothing for it.
Encode = Callable[[Mapping[str, Any]], bytes]

_END = object()


class _Handoff:
    """Chunks read from upstream and not yet written to the client, at most `MAX_AHEAD`."""

    __slots__ = ("items", "ready", "room")

    def __init__(self, first: Any) -> None:
        self.items: list = [first]
        self.ready = asyncio.Event()
        self.ready.set()  # the first chunk goes out at once, with nothing waiting behind it
        self.room = asyncio.Event()
        self.room.set()

    async def pump(self, chunks: AsyncIterator[Mapping[str, Any]]) -> None:
        """Move chunks in as they arrive; wait while the client is `MAX_AHEAD` behind."""
        items = self.items
        try:
            async for chunk in chunks:
                items.append(chunk)
                self.ready.set()
                if len(items) >= MAX_AHEAD:
                    self.room.clear()
                    await self.room.wait()
        except Exception as error:  # handed to the writer, which ends the client's stream
            items.append(error)
        finally:
            items.append(_END)
            self.ready.set()

    async def take(self) -> list:
        await self.ready.wait()
        self.ready.clear()
        taken = self.items[:]
        self.items.clear()
        self.room.set()
        return taken


async def relay(send: Send, first: Mapping[str, Any], rest: AsyncIterator[Mapping[str, Any]],
                encode: Encode, meter: Meter | None = None
                ) -> tuple[bytearray, Exception | None]:
    """Relay chunks, one write per burst.

    Returns the unsent tail and the error that ended the stream, if any; the caller writes
    the tail with the final event so the end of a stream costs one write.
    """
    handoff = _Handoff(first)
    pump = asyncio.get_running_loop().create_task(handoff.pump(rest))
    out = bytearray()
    try:
        while True:
            for item in await handoff.take():
                if item is _END:
                    return out, None
                if isinstance(item, Exception):
                    return out, item
                if meter is not None:
                    meter.observe(item)
                out += encode(item)
            if out:
                await send({"type": "http.response.body", "body": bytes(out), "more_body": True})
                out.clear()
    finally:
        pump.cancel()


def chat_encoder(keep_usage: bool) -> Encode:
    """Chat chunks as OpenAI sends them: the upstream's bytes relayed as they are, and the
    usage-only chunk the proxy asked for dropped unless the client asked for it too."""
    def encode(item: Mapping[str, Any]) -> bytes:
        if type(item) is RawChunk:
            if item.plain or keep_usage or not usage_only(item.data):
                return b"data: " + item.raw + b"\n\n"
            return b""
        if not keep_usage and usage_only(item):
            return b""
        return sse_event(item)
    return encode


def usage_only(chunk: Mapping[str, Any]) -> bool:
    """The usage chunk the proxy asked for with `stream_options.include_usage`."""
    return not chunk.get("choices") and "usage" in chunk


async def relay_bytes(ex: Exchange, status: int, content_type: str,
                      chunks: AsyncIterator[bytes], headers: Headers) -> None:
    """Relay a body (speech audio) as the upstream sends it; an upstream failure after the
    first byte cuts the response, so a client never mistakes a truncated file for a whole."""
    try:
        await ex.start_stream(status, content_type.encode(), headers)
        async for chunk in chunks:
            if chunk:
                await ex.send({"type": "http.response.body", "body": chunk, "more_body": True})
        await ex.send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
