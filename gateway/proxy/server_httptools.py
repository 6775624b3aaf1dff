"""uvicorn's httptools protocol with the connection guards (server.py): the default server.

llhttp (httptools' parser, in C) already refuses a request carrying both Content-Length and
Transfer-Encoding; uvicorn then answers a plain-text 400 and closes the connection. Here
that answer is in OpenAI's shape, and a malformed request gets the same treatment.

Parser callbacks mark where a request stands: `on_message_begin` (a head has begun),
`on_headers_complete` (a body may be due), `on_message_complete` (the app has it all).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httptools  # an ImportError here: server.py falls back to h11
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.errors import InvalidRequest
from gateway.proxy.head_hold import HeldHead
from gateway.proxy.server import (
    AMBIGUOUS,
    ConnectionGuard,
    raw_answer,
    server_settings_of,
)

_MALFORMED = raw_answer(InvalidRequest("the request is not valid HTTP/1.1"))


class GuardedHttpToolsProtocol(ConnectionGuard, HttpToolsProtocol):
    """uvicorn's httptools protocol with a head deadline, a body deadline and a connection
    limit."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.settings = server_settings_of(self.app)()
        self.timeout_keep_alive = self.settings.keepalive_timeout_s  # type: ignore[assignment]
        self._head_started = False  # bytes of a request head came: a late head is told why

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if self._refused(transport):
            self.transport = transport
            return
        super().connection_made(transport)
        self._expect("head")

    def connection_lost(self, exc: Exception | None) -> None:
        self._expect(None)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # uvicorn's, with the parser's reason kept: it tells a smuggling attempt apart.
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserError as error:
            self._expect(None)
            reason = str(error)
            ambiguous = "Content-Length" in reason and "Transfer-Encoding" in reason
            self.transport.write(AMBIGUOUS if ambiguous else _MALFORMED)
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_started = True
        if self._waiting_for != "head" and not self._upgraded:
            self._expect("head")  # a request head has begun; keep-alive's timer is off

    def on_headers_complete(self) -> None:
        earlier = self.cycle
        super().on_headers_complete()
        self._head_started = False
        if self.cycle is not earlier:  # a request's cycle (an upgrade makes none)
            self.cycle.transport = HeldHead(self.transport, self.loop)  # head and body: one write
        if not self._upgraded:
            self._expect("body")  # until on_message_complete, at once for a bodiless request

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._expect(None)

    def handle_websocket_upgrade(self) -> None:
        self._upgraded = True
        self._expect(None)
        super().handle_websocket_upgrade()

    def _awaiting_head(self) -> bool:
        return True  # its deadline is off once on_headers_complete came

    def _head_begun(self) -> bool:
        return self._head_started

    def _may_answer(self) -> bool:
        return True
