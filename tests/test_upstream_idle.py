"""The silence between an upstream's reads, timed against the upstream only: bytes that came
while the relay was writing to a slow client are no silence (gateway/proxy/upstream_http.py).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.errors import UpstreamTimeout
from gateway.proxy.adapters.base import Deadline
from gateway.proxy.next_now import Pending, next_now
from gateway.proxy.upstream_http import AiohttpUpstream

LIMIT_S = 0.3  # the first-byte timeout, which also bounds the silence between reads
HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def _upstream(script: list[tuple[float, bytes]]) -> asyncio.Server:
    """A raw HTTP upstream that answers every request with `script`: (pause, chunk) pairs,
    then keeps the connection open until the client closes it."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(HEAD)
        for pause, data in script:
            await asyncio.sleep(pause)
            writer.write(_chunk(data))
            await writer.drain()
        await reader.read()  # open until the proxy hangs up
        writer.close()

    return await asyncio.start_server(answer, "127.0.0.1", 0)


async def _first_then_prefetch(script: list[tuple[float, bytes]], hold_s: float) -> list[bytes]:
    """Read the first chunk, ask for the next one as the relay does (`next_now`, before the
    write to its client), hold it for `hold_s` as a slow client makes the relay, then take it
    and read the rest of the script."""
    server = await _upstream(script)
    port = server.sockets[0].getsockname()[1]
    http = AiohttpUpstream()
    try:
        response = await http.request(
            "POST",
            f"http://127.0.0.1:{port}/v1/chat/completions",
            headers={},
            deadline=Deadline(5.0, LIMIT_S, time.monotonic() + 60),
            data=b"{}",
        )
        reads = response.iter_bytes()
        assert await anext(reads) == script[0][1]
        step = next_now(reads)
        assert type(step) is Pending  # the second chunk is not there yet
        await asyncio.sleep(hold_s)
        got = [script[0][1], await step]
        while len(got) < len(script):
            got.append(await anext(reads))
        await reads.aclose()
        return got
    finally:
        await http.aclose()
        server.close()


@pytest.mark.anyio
async def test_bytes_that_came_while_the_relay_was_busy_are_no_silence() -> None:
    """The second chunk comes 0.1 s after the relay asked for it; the relay takes it only
    after three limits (its client was slow), and the third comes after it asked again.
    Timed from the first ask, the upstream's connection was closed before the third."""
    script = [(0, b"data: 1\n\n"), (0.1, b"data: 2\n\n"), (1.0, b"data: 3\n\n")]
    got = await _first_then_prefetch(script, 3 * LIMIT_S)
    assert got == [data for _, data in script]


@pytest.mark.anyio
async def test_an_upstream_silent_after_the_ask_still_times_out() -> None:
    with pytest.raises(UpstreamTimeout, match="timed out reading the body"):
        await _first_then_prefetch([(0, b"data: 1\n\n"), (10, b"data: 2\n\n")], 3 * LIMIT_S)
