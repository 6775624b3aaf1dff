"""The HTTP server around the proxy app: uvicorn with connection guards, and a server that
drains on SIGTERM.

uvicorn alone keeps a connection open forever while its request head or body trickles in,
and accepts any number of connections; its h11 protocol also answers a request carrying
both Content-Length and Transfer-Encoding and then whatever follows it on the connection
(request smuggling). The guarded protocols (`server_httptools.py`, the default, and
`server_h11.py` where httptools is not installed) close such connections; their numbers
come from the snapshot's Settings `server` block, read at each new connection, so a reload
applies them.
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

import uvicorn

from gateway.catalog.snapshot import ServerSettings
from gateway.errors import AmbiguousFraming, ProxyError, RequestTimeout, ServerOverloaded

log = logging.getLogger("modelyard.proxy")


def _json(error: ProxyError) -> bytes:
    return json.dumps(error.body(), separators=(",", ":")).encode()


def raw_answer(error: ProxyError) -> bytes:
    """A complete answer that closes the connection, written outside the ASGI cycle."""
    body = _json(error)
    return (
        b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\nconnection: close\r\n"
        b"content-length: %d\r\n\r\n" % (error.status, _REASONS[error.status], len(body))
    ) + body


_REASONS = {400: b"Bad Request", 408: b"Request Timeout", 503: b"Service Unavailable"}
OVERLOADED = raw_answer(ServerOverloaded("too many connections to this server; retry"))
HEAD_LATE = raw_answer(RequestTimeout("the request head did not arrive in time"))
BODY_LATE = raw_answer(RequestTimeout("the request body did not arrive in time"))
AMBIGUOUS_BODY = _json(
    AmbiguousFraming("a request may not carry both Content-Length and Transfer-Encoding")
)
AMBIGUOUS = raw_answer(
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


class ConnectionGuard:
    """The deadlines and the connection limit of a guarded protocol, whatever its parser.

    A protocol calls `_expect("head")` when it waits for a request head, `_expect("body")`
    while a body is due, `_expect(None)` when the connection waits on the app or on
    keep-alive (uvicorn's own timer); it implements `_head_late` and `_body_late`.
    """

    settings: ServerSettings
    loop: asyncio.AbstractEventLoop
    connections: set[Any]
    transport: asyncio.Transport
    cycle: Any  # uvicorn's RequestResponseCycle of the request under way, if any
    _deadline: asyncio.TimerHandle | None = None
    _waiting_for: str | None = None  # "head" or "body" while a deadline runs
    _upgraded = False  # a WebSocket now owns the connection: no deadlines here

    def _refused(self, transport: asyncio.Transport) -> bool:
        """Whether this new connection is one too many (then answered 503 and closed)."""
        if len(self.connections) < self.settings.max_connections:
            return False
        log.warning("connection refused: %d connections open", len(self.connections))
        transport.write(OVERLOADED)
        transport.close()
        return True

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
        if self.transport.is_closing() or not self._awaiting_head():
            return
        if self._head_begun():
            self.transport.write(HEAD_LATE)  # part of a head came: say why we hang up
        self.transport.close()

    def _body_late(self) -> None:
        self._deadline = None
        cycle = self.cycle
        if self.transport.is_closing() or cycle is None:
            return
        if not cycle.response_started and self._may_answer():
            # A complete answer that closes the connection: no parser state to keep.
            self.transport.write(BODY_LATE)
            cycle.response_started = cycle.response_complete = True
        # The app sees the client gone: its read of the body ends, nothing more is sent.
        cycle.disconnected = True
        cycle.message_event.set()
        self.transport.close()

    # What each parser says of where the connection stands.

    def _awaiting_head(self) -> bool:
        """No request head is complete: the head deadline still applies."""
        raise NotImplementedError

    def _head_begun(self) -> bool:
        """Bytes of a request head came (a late one is told why it is cut)."""
        raise NotImplementedError

    def _may_answer(self) -> bool:
        """No answer has begun, so the 408 may still be written."""
        raise NotImplementedError


def guarded_protocol(parser: str = "auto") -> type[asyncio.Protocol]:
    """The guarded protocol on `parser`: "httptools" (llhttp, in C), "h11" (pure Python,
    measurably more server CPU per request: docs/performance.md), or "auto", the first of
    them that is installed."""
    if parser not in ("auto", "httptools", "h11"):
        raise ValueError(f"unknown HTTP parser {parser!r}: use auto, httptools or h11")
    if parser != "h11":
        try:
            from gateway.proxy.server_httptools import GuardedHttpToolsProtocol
        except ImportError:
            if parser == "httptools":
                raise
        else:
            return GuardedHttpToolsProtocol
    from gateway.proxy.server_h11 import GuardedH11Protocol

    return GuardedH11Protocol


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
