"""The relay writes what the upstream gives at once in one piece, never holds a chunk back
while the upstream waits, and leaves the upstream's iterator closed however it ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gateway.proxy.next_now import Pending, next_now
from gateway.proxy.relay import MAX_UNSENT, relay


class Upstream:
    """Reads of several events each; between reads it waits until `more` is set."""

    def __init__(self, reads: list[list[bytes]]) -> None:
        self.reads = reads
        self.more = asyncio.Event()
        self.waiting = False
        self.closed = False

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            for n, read in enumerate(self.reads):
                if n:
                    self.waiting = True
                    await self.more.wait()
                    self.more.clear()
                    self.waiting = False
                for event in read:
                    yield event
        finally:
            self.closed = True


def encode(item: bytes) -> bytes:
    return item


def test_the_events_of_one_read_go_out_in_one_write_before_the_upstream_waits():
    async def run() -> tuple[list[tuple[bytes, bool]], bytes, bool]:
        upstream = Upstream([[b"a", b"b", b"c"], [b"d", b"e"], [b"f"]])
        writes: list[tuple[bytes, bool]] = []

        async def send(message: dict) -> None:
            writes.append((message["body"], upstream.waiting))
            asyncio.get_running_loop().call_soon(upstream.more.set)  # the next read comes

        rest = upstream.chunks()
        first = await anext(rest)
        tail, error = await relay(send, first, rest, encode)
        assert error is None
        return writes, b"".join(tail), upstream.closed

    writes, tail, closed = asyncio.run(run())
    # each written while the upstream waited; the last read is the caller's to write, with
    # the stream's final event
    assert (writes, tail, closed) == ([(b"abc", True), (b"de", True)], b"f", True)


def test_a_chunk_is_never_held_back_while_the_upstream_waits():
    async def run() -> None:
        upstream = Upstream([[b"x"], [b"y"]])
        writes: list[bytes] = []

        async def send(message: dict) -> None:
            writes.append(message["body"])

        rest = upstream.chunks()
        first = await anext(rest)
        task = asyncio.ensure_future(relay(send, first, rest, encode))
        for _ in range(20):
            await asyncio.sleep(0)
        assert upstream.waiting and writes == [b"x"]
        upstream.more.set()
        tail, _ = await task
        assert b"".join(tail) == b"y"

    asyncio.run(run())


def test_a_long_burst_is_written_in_bounded_pieces():
    async def run() -> list[int]:
        event = b"e" * 1000
        upstream = Upstream([[event] * 300])
        sizes: list[int] = []

        async def send(message: dict) -> None:
            sizes.append(len(message["body"]))

        rest = upstream.chunks()
        tail, _ = await relay(send, await anext(rest), rest, encode)
        return [*sizes, len(b"".join(tail))]

    sizes = asyncio.run(run())
    assert sum(sizes) == 300_000 and max(sizes) <= MAX_UNSENT + 1000 and len(sizes) > 1


def test_a_client_gone_mid_write_leaves_the_upstream_closed():
    async def run() -> bool:
        upstream = Upstream([[b"a"], [b"b"]])

        async def send(message: dict) -> None:
            raise OSError("client gone")

        rest = upstream.chunks()
        with pytest.raises(OSError):
            await relay(send, await anext(rest), rest, encode)
        return upstream.closed

    assert asyncio.run(run())


def test_a_cancelled_relay_leaves_the_upstream_closed():
    async def run() -> bool:
        upstream = Upstream([[b"a"], [b"b"]])

        async def send(message: dict) -> None:
            await asyncio.sleep(10)  # a client that does not read

        rest = upstream.chunks()
        task = asyncio.ensure_future(relay(send, await anext(rest), rest, encode))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return upstream.closed

    assert asyncio.run(run())


def test_next_now_gives_a_ready_item_at_once_and_a_pending_one_to_await():
    async def run() -> None:
        gate = asyncio.Event()

        async def items() -> AsyncIterator[int]:
            yield 1
            await gate.wait()
            yield 2

        iterator = items()
        assert next_now(iterator) == 1
        pending = next_now(iterator)
        assert type(pending) is Pending
        asyncio.get_running_loop().call_soon(gate.set)
        assert await pending == 2
        with pytest.raises(StopAsyncIteration):
            next_now(iterator)

    asyncio.run(run())
