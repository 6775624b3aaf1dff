"""Relaying an answer that arrives in pieces: stream chunks as events, or bytes as they come.

Each chunk is written to the client as it comes, by the task that reads the upstream: a
client that stops reading makes the server's send wait (its transport's flow control), so
the upstream is not read any further (its socket buffer fills and TCP slows the upstream
down), and a slow reader costs a bounded amount of memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from gateway.proxy.chunk import RawChunk, RawEvents
from gateway.proxy.exchange import Exchange, Headers, Send, sse_event
from gateway.proxy.meter import Meter
from gateway.proxy.sse import aclose

#: Encodes one chunk as the bytes of its event(s); b"" to send nothing for it.
Encode = Callable[[Mapping[str, Any]], bytes]


async def relay(
    send: Send,
    first: Mapping[str, Any],
    rest: AsyncIterator[Mapping[str, Any]],
    encode: Encode,
    meter: Meter | None = None,
) -> tuple[bytearray, Exception | None]:
    """Relay chunks, each written as it comes.

    Returns the unsent tail (empty: the caller writes the final event after it) and the
    error that ended the stream, if any. Written each as it comes rather than handed to a
    second task that batches them: measured with benchmarks/proxy/toggles.py, the hand-off
    cost more CPU per stream than the writes it saved (+10% per 13-event stream).
    """
    item = first
    try:
        while True:
            if meter is not None:
                meter.observe(item)
            data = encode(item)
            if data:
                await send({"type": "http.response.body", "body": data, "more_body": True})
            try:
                item = await anext(rest)
            except StopAsyncIteration:
                return bytearray(), None
            except Exception as error:  # the upstream failed: the caller ends the stream
                return bytearray(), error
    finally:
        await aclose(rest)


def chat_encoder(keep_usage: bool) -> Encode:
    """Chat chunks as OpenAI sends them: the upstream's bytes relayed as they are, and the
    usage-only chunk the proxy asked for dropped unless the client asked for it too."""

    def encode(item: Mapping[str, Any]) -> bytes:
        if type(item) is RawEvents:  # plain events, framed: nothing to drop
            return item.raw
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


async def relay_bytes(
    ex: Exchange, status: int, content_type: str, chunks: AsyncIterator[bytes], headers: Headers
) -> None:
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
