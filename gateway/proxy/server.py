"""The HTTP server around the proxy app: uvicorn's h11 protocol with connection guards, and a
server that drains on SIGTERM.

uvicorn alone keeps a connection open forever while its request head or body trickles in,
accepts any number of connections, and answers a request carrying both Content-Length and
Transfer-Encoding and then whatever follows it on the connection (request smuggling). The
guards here close such connections; their numbers come from the snapshot's Settings
`server` block, read at each new connection, so a reload applies them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from gateway.catalog.snapshot import ServerSettings
from gateway.errors import AmbiguousFraming, ProxyError, RequestTimeout, ServerOverloaded

log = logging.getLogger("modelyard.proxy")


def _json(error: ProxyError) -> bytes:
    return json.dumps(error.body(), separators=(",", ":")).encode()


def _raw_answer(error: ProxyError) -> bytes:
    """A complete answer that closes the connection, written before h11 has a request."""
    body = _json(error)
    return (
        b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\nconnection: close\r\n"
        b"content-length: %d\r\n\r\n" % (error.status, _REASONS[error.status], len(body))
    ) + body


_REASONS = {408: b"Request Timeout", 503: b"Service Unavailable"}
_OVERLOADED = _raw_answer(ServerOverloaded("too many connections to this server; retry"))
_HEAD_LATE = _raw_answer(RequestTimeout("the request head did not arrive in time"))
_BODY_LATE = _json(RequestTimeout("the request body did not arrive in time"))
_AMBIGUOUS = _json(
    AmbiguousFraming("a request may not carry both Content-Length and Transfer-Encoding")
)


def server_settings_of(app: Any) -> Callable[[], ServerSettings]:
    """The `server_settings` of the proxy app inside uvicorn's middleware wrappers."""
    while app is not None:
        found = getattr(app, "server_settings", None)
        if found is not None:
            return found  # type: ignore[no-any-return]
        app = getattr(app, "app", None)
    return ServerSettings


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
                            (b"content-length", str(len(_AMBIGUOUS)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": _AMBIGUOUS})
                return
        await self.app(scope, receive, send)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a head deadline, a body deadline and a connection limit."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.settings = server_settings_of(self.app)()
        self.app = FramingGuard(self.app)
        self.timeout_keep_alive = self.settings.keepalive_timeout_s  # type: ignore[assignment]
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_for: str | None = None  # "head" or "body" while a deadline runs
        self._upgraded = False  # a WebSocket now owns the connection: no deadlines here

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.settings.max_connections:
            self.transport = transport
            log.warning("connection refused: %d connections open", len(self.connections))
            transport.write(_OVERLOADED)
            transport.close()
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

    def _expect(self, what: str | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._waiting_for = what
        if what == "head":
            self._deadline = self.loop.call_later(self.settings.header_timeout_s, self._head_late)
        elif what == "body":
            self._deadline = self.loop.call_later(self.settings.body_timeout_s, self._body_late)

    def _head_late(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.conn.trailing_data[0]:
            self.transport.write(_HEAD_LATE)  # part of a head came: say why we hang up
        self.transport.close()

    def _body_late(self) -> None:
        self._deadline = None
        cycle = self.cycle
        if self.transport.is_closing() or cycle is None:
            return
        if not cycle.response_started and self.conn.our_state is h11.SEND_RESPONSE:
            body = _BODY_LATE
            self.transport.write(
                self.conn.send(
                    h11.Response(
                        status_code=408,
                        headers=[
                            (b"content-type", b"application/json"),
                            (b"connection", b"close"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                        reason=b"Request Timeout",
                    )
                )
            )
            self.transport.write(self.conn.send(h11.Data(data=body)))
            self.transport.write(self.conn.send(h11.EndOfMessage()))
            cycle.response_started = cycle.response_complete = True
        # The app sees the client gone: its read of the body ends, nothing more is sent.
        cycle.disconnected = True
        cycle.message_event.set()
        self.transport.close()


class DrainingServer(uvicorn.Server):
    """uvicorn's server, draining on SIGTERM or SIGINT and then exiting 0.

    At the signal `on_drain` runs (the proxy's /readyz turns 503) while connections are still
    accepted for `grace_s`, so load balancers that probe readiness move traffic away; then
    the listening socket closes and requests and streams in flight get the Settings'
    `shutdown_deadline_s` to finish. The grace period belongs to the environment (how often
    its load balancer probes), not to the catalog: it is a `serve` option. A second signal
    ends the grace period at once; a second SIGINT also stops waiting.
    """

    #: A second signal this soon after the first is the same stop delivered twice (to the
    #: process group and again by `serve --workers`' supervisor), not a second request.
    DUPLICATE_S = 0.25

    def __init__(
        self,
        config: uvicorn.Config,
        on_drain: Callable[[], None] | None = None,
        grace_s: float = 0.0,
    ) -> None:
        super().__init__(config)
        self.on_drain = on_drain  # None: the loaded app's `begin_drain`
        self.grace_s = grace_s
        self.drain_started: float | None = None

    def _settings(self) -> ServerSettings:
        return server_settings_of(self.config.loaded_app)()

    def _begin_drain(self) -> None:
        if self.on_drain is not None:
            self.on_drain()
            return
        app = getattr(self.config, "loaded_app", None)
        while app is not None:  # the proxy app inside uvicorn's middleware wrappers
            begin = getattr(app, "begin_drain", None)
            if begin is not None:
                begin()
                return
            app = getattr(app, "app", None)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Unlike uvicorn's, the signal is not raised again after shutdown: a drained
        # process exits 0, which is what an orchestrator expects from a clean stop.
        if self.drain_started is None:
            self.drain_started = time.monotonic()
            self._begin_drain()
            log.info(
                "%s: draining; new connections refused in %.1f s",
                signal.Signals(sig).name,
                self.grace_s,
            )
            return
        if time.monotonic() - self.drain_started < self.DUPLICATE_S:
            return
        self.should_exit = True
        if sig == signal.SIGINT:
            self.force_exit = True

    async def on_tick(self, counter: int) -> bool:
        started = self.drain_started
        if started is not None and time.monotonic() - started >= self.grace_s:
            self.should_exit = True
        return await super().on_tick(counter)

    async def shutdown(self, sockets: Any = None) -> None:
        self.config.timeout_graceful_shutdown = self._settings().shutdown_deadline_s  # type: ignore[assignment]
        await super().shutdown(sockets)
