"""Server-sent events: decoded as text, and encoded. The incremental decoder, safe at any
chunk boundary, and the reads of relayed streams are in the compiled sse_reads.py."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from gateway.proxy.sse_reads import SSEDecoder, aclose  # used from here too

DONE = b"data: [DONE]\n\n"


async def decode(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[str | None, str]]:
    """Decode an async byte stream into SSE events."""
    decoder = SSEDecoder()
    try:
        async for chunk in chunks:
            for event in decoder.feed(chunk):
                yield event
        for event in decoder.flush():
            yield event
    finally:
        await aclose(chunks)


def encode_event(data: Mapping[str, Any] | str, event: str | None = None) -> bytes:
    """One SSE event; dicts are JSON-encoded compactly."""
    text = (
        data
        if isinstance(data, str)
        else json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    )
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {text}\n\n".encode()
