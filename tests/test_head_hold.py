"""`HeldHead`: an answer's head leaves with its first body bytes, or alone at the event
loop's next turn; on a real event loop, against a transport that records its writes."""

from __future__ import annotations

import asyncio

import pytest

from gateway.proxy.head_hold import HeldHead

pytestmark = pytest.mark.anyio


class RecordingTransport:
    """What the socket would have been asked to send, write by write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def writelines(self, parts) -> None:
        self.writes.append(b"".join(parts))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def held(transport: RecordingTransport) -> HeldHead:
    return HeldHead(transport, asyncio.get_running_loop())  # type: ignore[arg-type]


async def test_a_head_and_its_body_leave_in_one_write():
    transport = RecordingTransport()
    out = held(transport)
    out.write(b"HTTP/1.1 200 OK\r\n\r\n")
    assert transport.writes == []
    out.write(b"{}")
    out.write(b"more")
    assert transport.writes == [b"HTTP/1.1 200 OK\r\n\r\n{}", b"more"]
    await asyncio.sleep(0)  # the flush at the next turn finds nothing held
    assert transport.writes == [b"HTTP/1.1 200 OK\r\n\r\n{}", b"more"]


async def test_a_head_whose_body_waits_leaves_alone_at_the_next_turn():
    transport = RecordingTransport()
    out = held(transport)
    out.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    await asyncio.sleep(0)
    assert transport.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    out.write(b"HTTP/1.1 200 OK\r\n\r\n")
    assert transport.writes[-1] == b"HTTP/1.1 200 OK\r\n\r\n"  # only the first write is held


async def test_closing_sends_a_held_head_first_and_a_closed_transport_gets_nothing():
    transport = RecordingTransport()
    out = held(transport)
    out.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    out.close()
    assert transport.writes == [b"HTTP/1.1 400 Bad Request\r\n\r\n"] and out.is_closing()
    late = RecordingTransport()
    out = held(late)
    out.write(b"HTTP/1.1 200 OK\r\n\r\n")
    late.closed = True  # the client went away before the next turn
    await asyncio.sleep(0)
    assert late.writes == []
