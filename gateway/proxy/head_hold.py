"""An answer's head written together with its first body bytes: one system call, not two.

uvicorn's cycle writes the status line and headers the moment the app sends
`http.response.start`, and the body with the next message: two writes, two segments on the
wire and two wake-ups of the client for every plain answer. `HeldHead` stands in for the
transport of one request's cycle: it holds the cycle's first write (the head) and sends it
with the next one, in a single `writelines` (one `writev`, nothing copied). A head whose
body does not follow in the same turn of the event loop (a stream waiting on its upstream,
an interim `100 Continue`) is written alone at the loop's next turn, so no client waits
on a held head.
"""

from __future__ import annotations

import asyncio


class HeldHead:
    """The transport of one request's cycle, its first write held for the next."""

    __slots__ = ("_transport", "_loop", "_head", "_fresh")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._head: bytes | None = None
        self._fresh = True  # nothing written yet: the next write is the head

    def write(self, data: bytes) -> None:
        if self._fresh:
            self._fresh = False
            self._head = data
            self._loop.call_soon(self.flush)
            return
        head = self._head
        if head is None:
            self._transport.write(data)
        else:
            self._head = None
            self._transport.writelines((head, data))

    def flush(self) -> None:
        """Write a head still held (its body did not follow in the same turn)."""
        head = self._head
        if head is not None:
            self._head = None
            if not self._transport.is_closing():
                self._transport.write(head)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()
