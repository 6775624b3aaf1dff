"""uvicorn's h11 protocol with the connection guards (server.py), for where httptools is not
installed: h11 answers a request carrying both Content-Length and Transfer-Encoding, so an
ASGI wrapper refuses it and closes the connection."""

from __future__ import annotations

import asyncio
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from gateway.proxy.server import (
    AMBIGUOUS_BODY,
    ConnectionGuard,
    server_settings_of,
)


class FramingGuard:
    """ASGI: refuse a request with both Content-Length and Transfer-Encoding, and close the
    connection after the answer (RFC 9112 §6.3), so nothing smuggled behind it is read."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            names = {name for name, _ in scope["headers"]}
            if b"content-length" in names and b"transfer-encoding" in names:
                # `connection: close` puts h11 in MUST_CLOSE: uvicorn closes after this answer.
                await send(
                    {
                        "type": "http.response.start",
                        "status": 400,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"connection", b"close"),
                            (b"content-length", str(len(AMBIGUOUS_BODY)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": AMBIGUOUS_BODY})
                return
        await self.app(scope, receive, send)


class GuardedH11Protocol(ConnectionGuard, H11Protocol):
    """uvicorn's h11 protocol with a head deadline, a body deadline and a connection limit."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.settings = server_settings_of(self.app)()
        self.app = FramingGuard(self.app)
        self.timeout_keep_alive = self.settings.keepalive_timeout_s  # type: ignore[assignment]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if self._refused(transport):
            self.transport = transport
            return
        super().connection_made(transport)
        self._expect("head")

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._follow(got_data=True)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow(got_data=False)  # a pipelined request may have been parsed just now

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self._upgraded = True
        self._expect(None)
        super().handle_websocket_upgrade(event)

    def connection_lost(self, exc: Exception | None) -> None:
        self._expect(None)
        super().connection_lost(exc)

    def _follow(self, *, got_data: bool) -> None:
        """Keep the deadline that fits what the connection now waits for from the client."""
        if self._upgraded:
            return
        state = self.conn.their_state
        if state is h11.IDLE:
            buffered = bool(self.conn.trailing_data[0])
            if (got_data or buffered) and self._waiting_for != "head":
                self._expect("head")  # a request head has begun; keep-alive's timer is off
        elif state is h11.SEND_BODY:
            if self._waiting_for != "body":
                self._expect("body")
        else:
            self._expect(None)

    def _awaiting_head(self) -> bool:
        return self.conn.their_state is h11.IDLE

    def _head_begun(self) -> bool:
        return bool(self.conn.trailing_data[0])

    def _may_answer(self) -> bool:
        return self.conn.our_state is h11.SEND_RESPONSE
