"""Relaying an answer that arrives in pieces: stream chunks as events, or bytes as they come.

Chunks are written to the client as they come, by the task that reads the upstream: a
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
from gateway.proxy.next_now import Pending, next_now
from gateway.proxy.sse import aclose

#: Encodes one chunk as the bytes of its event(s); b"" to send nothing for it.
Encode = Callable[[Mapping[str, Any]], bytes]


#: The most bytes a relay keeps before writing them, even while the upstream has more at
#: once: a bound on what one stream holds besides the server's and aiohttp's buffers.
MAX_UNSENT = 64 * 1024


async def relay(
    send: Send,
    first: Mapping[str, Any],
    rest: AsyncIterator[Mapping[str, Any]],
    encode: Encode,
    meter: Meter | None = None,
) -> tuple[list[bytes], Exception | None]:
    """Relay chunks, writing what the upstream gave at once in one piece.

    Chunks the upstream's iterator has ready (the events of one read) are encoded and kept;
    they are written when it would wait for the network (`next_now`), so no chunk waits for
    a later one, and a burst of events costs one write instead of one each. Returns the
    unsent tail, written by the caller with the final event, and the error that ended the
    stream, if any. The writing stays in the task that reads the upstream: a client that
    stops reading makes the send wait, and the upstream is read no further.

    The pieces are kept as they are and joined only when there are several, and the unsent
    ones are returned as pieces, for the caller to join once with the stream's end: a read
    relayed whole goes out as the very bytes its encoding made, and a stream the upstream
    sent at once is copied once, not into a buffer, out of it and again with its end.
    """
    item = first
    unsent: list[bytes] = []
    size = 0
    waiting: Pending | None = None  # a next step begun, while the unsent bytes go out
    try:
        while True:
            if meter is not None:
                meter.observe(item)
            piece = encode(item)
            if piece:
                unsent.append(piece)
                size += len(piece)
            try:
                got = next_now(rest)
            except StopAsyncIteration:
                return unsent, None
            except Exception as error:  # the upstream failed: the caller ends the stream
                return unsent, error
            if type(got) is Pending or size >= MAX_UNSENT:
                if unsent:
                    waiting = got if type(got) is Pending else None
                    body = unsent[0] if len(unsent) == 1 else b"".join(unsent)
                    unsent = []
                    size = 0
                    await send({"type": "http.response.body", "body": body, "more_body": True})
                    waiting = None
                if type(got) is Pending:
                    try:
                        got = await got
                    except StopAsyncIteration:
                        return unsent, None
                    except Exception as error:
                        return unsent, error
            item = got
    finally:
        if waiting is not None:  # the client went away while the upstream was being read
            await waiting.abandon()
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
