"""The HTTP client seam on aiohttp: pooled sessions per upstream origin, errors mapped once.

Adapters see only `UpstreamHTTP.request` and `UpstreamResponse` (adapters/base.py).
Transport failures become `UpstreamConnectError` / `UpstreamTimeout` /
`UpstreamProtocolError` here and nowhere else. Messages name the upstream host only: a URL
may carry credentials (query keys, userinfo) and must never reach a client or a log.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
from collections.abc import AsyncIterator, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from gateway.errors import UpstreamConnectError, UpstreamProtocolError, UpstreamTimeout
from gateway.proxy.adapters.base import Deadline, HandshakeRefused
from gateway.proxy.exchange import dumps
from gateway.proxy.sse import decode
from gateway.proxy.timeout import IdleTimeout

_CACHE_LIMIT = 1024  # distinct upstream URLs / timeout pairs remembered
#: The largest complete answer read from an upstream, after decompression: a reply that
#: inflates past it (a compression bomb) is a protocol error, not a process out of memory.
MAX_BODY_BYTES = 64 * 1024 * 1024
#: What aiohttp buffers of an upstream body before it stops reading the socket (twice this,
#: then it pauses). Its default, 256 KiB, let a stream whose client stopped reading hold
#: about 600 KB in that buffer alone; 64 KiB (its earlier default, and httpx's read
#: size) holds a quarter of that, at the same CPU per byte relayed (docs/resilience.md).
READ_BUFFER_BYTES = 64 * 1024


@lru_cache(maxsize=_CACHE_LIMIT)
def _split(url: str) -> tuple[str, str]:
    """The host named in messages and the origin a session serves, parsed once per URL."""
    parts = urlsplit(url)
    return parts.hostname or "upstream", f"{parts.scheme}://{parts.netloc}"


@lru_cache(maxsize=_CACHE_LIMIT)
def _timeout(connect_s: float, first_byte_s: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=None, connect=connect_s, sock_read=first_byte_s)


#: What aiohttp raises that `_mapped` turns into our upstream errors.
_CLIENT_ERRORS = (TimeoutError, aiohttp.ClientError, OSError)


def _mapped(exc: BaseException, host: str, phase: str) -> Exception:
    """The upstream error for an aiohttp or timeout error (a function, not a context manager:
    this sits on every request, and a generator-based one costs a few µs each time)."""
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return UpstreamTimeout(f"upstream {host} timed out {phase}")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return UpstreamProtocolError(f"upstream {host} sent a broken body")
    if isinstance(exc, aiohttp.ClientConnectionError | OSError):
        if phase == "reading the body":
            return UpstreamProtocolError(f"upstream {host} closed the connection mid-body")
        return UpstreamConnectError(f"could not connect to upstream {host}")
    return UpstreamProtocolError(f"upstream {host} answered something unreadable")


class AiohttpResponse:
    """An upstream response whose status and headers are read and whose body is not."""

    __slots__ = ("_response", "_host", "status", "headers", "_idle", "_asked_at")

    def __init__(self, response: aiohttp.ClientResponse, host: str) -> None:
        self._response = response
        self._host = host
        self.status = response.status
        self.headers: Mapping[str, str] = response.headers
        self._idle: IdleTimeout | None = None
        self._asked_at = 0  # the body's bytes received when the consumer last asked for more

    async def read(self) -> bytes:
        """The whole body, decompressed, refused past MAX_BODY_BYTES (a gzip bomb is)."""
        parts: list[bytes] = []
        size = 0
        try:
            async for chunk in self._response.content.iter_any():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise UpstreamProtocolError(
                        f"upstream {self._host} answered more than {MAX_BODY_BYTES} bytes"
                    )
                parts.append(chunk)
            return b"".join(parts)
        except _CLIENT_ERRORS as exc:
            raise _mapped(exc, self._host, "reading the body") from exc
        finally:
            self._response.release()

    async def json(self) -> Any:
        body = await self.read()
        try:
            return jsonlib.loads(body)
        except ValueError as exc:
            raise UpstreamProtocolError(f"upstream {self._host} answered invalid JSON") from exc

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        idle = self._idle_timeout()
        try:
            async for chunk in self._response.content.iter_any():
                if idle is None:
                    yield chunk
                    continue
                idle.pause()  # while the consumer has the read, the upstream is not timed
                yield chunk
                idle.touch()
                self._asked_at = self._response.content.total_bytes
        except _CLIENT_ERRORS as exc:
            raise _mapped(exc, self._host, "reading the body") from exc
        finally:
            if idle is not None:
                idle.close()
            self._response.release()

    def _idle_timeout(self) -> IdleTimeout | None:
        """aiohttp's read timeout (the first-byte timeout, between any two reads) handed to
        an `IdleTimeout`: aiohttp re-arms a timer on every read, a long stream's many reads
        each; this moves a time (gateway/proxy/timeout.py)."""
        connection = self._response.connection
        protocol = connection.protocol if connection is not None else None
        limit = protocol.read_timeout if protocol is not None else None
        if protocol is None or not limit:
            return None
        protocol.read_timeout = None  # the timer armed at the last read is the last one
        self._asked_at = self._response.content.total_bytes
        self._idle = IdleTimeout(limit, self._idle_expired)
        return self._idle

    def _idle_expired(self) -> None:
        """What aiohttp's own read timeout does: the reader fails, the connection closes.

        Unless bytes came since the consumer asked for more: a relay asks for the next read
        before it writes the last one to its client (gateway/proxy/next_now.py), so while a
        slow client holds that write, the upstream's answer waits in the reader, and the
        silence is the client's, not the upstream's. The limit then starts again."""
        if self._response.content.total_bytes > self._asked_at and self._idle is not None:
            self._idle.again()
            return
        self._response.content.set_exception(
            aiohttp.ServerTimeoutError("Timeout on reading data from socket")
        )
        self._response.close()

    def iter_sse(self) -> AsyncIterator[tuple[str | None, str]]:
        return decode(self.iter_bytes())

    async def close(self) -> None:
        self._response.close()


#: The key of the session that opens every upstream WebSocket.
_WS_POOL = "websockets"
#: No receive timeout (the realtime relay keeps its own idle timer); a short close handshake.
_WS_TIMEOUT = aiohttp.ClientWSTimeout(ws_receive=None, ws_close=1.0)


class AiohttpWebSocket:
    """Implements `RealtimeUpstream` over an aiohttp client WebSocket."""

    __slots__ = ("_ws",)

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws

    async def send(self, text: str) -> None:
        await self._ws.send_str(text)

    async def receive(self) -> str | None:
        message = await self._ws.receive()
        if message.type == aiohttp.WSMsgType.TEXT:
            return message.data
        if message.type == aiohttp.WSMsgType.BINARY:
            return bytes(message.data).decode("utf-8", "replace")
        return None  # close, closing, closed or a broken connection: the session is over

    async def close(self) -> None:
        await self._ws.close()


class AiohttpUpstream:
    """Implements `UpstreamHTTP`: one pooled session per upstream origin, reused."""

    #: Connections kept to one upstream origin. An HTTP/1.1 stream holds its connection for
    #: the whole answer, so this bounds the streams one worker relays from one upstream at
    #: once; a request waiting for a connection counts against its connect timeout.
    #: benchmarks/proxy/long_streams.py holds 2,000 streams open on one worker.
    LIMIT_PER_HOST = 4096

    def __init__(self, *, limit_per_host: int = LIMIT_PER_HOST) -> None:
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._limit = limit_per_host

    def _session(self, origin: str) -> aiohttp.ClientSession:
        session = self._sessions.get(origin)
        if session is None or session.closed:
            # A WebSocket holds its connection for the whole session: those get a pool of
            # their own without a per-host limit, so sessions never queue behind each other
            # or behind requests to the same upstream.
            per_host = 0 if origin == _WS_POOL else self._limit
            connector = aiohttp.TCPConnector(limit=0, limit_per_host=per_host, ttl_dns_cache=300)
            session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=True,
                cookie_jar=aiohttp.DummyCookieJar(),
                read_bufsize=READ_BUFFER_BYTES,
            )
            self._sessions[origin] = session
        return session

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        deadline: Deadline,
        json: Any = None,
        data: bytes | None = None,
        form: Mapping[str, Any] | None = None,
    ) -> AiohttpResponse:
        host, origin = _split(url)
        # aiohttp's own timers bound the attempt by the total deadline too: no third timer.
        remaining = deadline.remaining() or 0.001
        timeout = _timeout(
            min(deadline.connect_s, remaining), min(deadline.first_byte_s, remaining)
        )
        body: Any = data
        send_headers = headers
        if json is not None:
            body = json if type(json) is bytes else dumps(json)  # bytes: encoded already
            if "Content-Type" not in headers:
                send_headers = {**headers, "Content-Type": "application/json"}
        elif form is not None:
            body = _form_data(form)
        try:
            response = await self._session(origin).request(
                method, url, data=body, headers=send_headers, timeout=timeout, allow_redirects=False
            )
        except _CLIENT_ERRORS as exc:
            raise _mapped(exc, host, "before answering") from exc
        return AiohttpResponse(response, host)

    async def websocket(
        self, url: str, *, headers: Mapping[str, str], deadline: Deadline, max_frame_bytes: int
    ) -> AiohttpWebSocket:
        """A WebSocket to `url`, opened within the connect timeout (and the deadline)."""
        host, _origin = _split(url)
        wait = min(deadline.connect_s, deadline.remaining() or 0.001)
        try:
            ws = await asyncio.wait_for(
                self._session(_WS_POOL).ws_connect(
                    url,
                    headers=headers,
                    max_msg_size=max_frame_bytes,
                    autoping=True,
                    compress=0,
                    timeout=_WS_TIMEOUT,
                ),
                wait,
            )
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status == 101:  # upgraded, but not the way the protocol requires
                raise UpstreamProtocolError(f"upstream {host} answered a bad upgrade") from exc
            raise HandshakeRefused(exc.status, dict(exc.headers or {})) from exc
        except _CLIENT_ERRORS as exc:
            raise _mapped(exc, host, "before answering") from exc
        return AiohttpWebSocket(ws)

    async def aclose(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()


def _form_data(form: Mapping[str, Any]) -> aiohttp.FormData:
    """Multipart form: values are strings, or (filename, bytes, content_type) for files."""
    data = aiohttp.FormData()
    for name, value in form.items():
        if isinstance(value, tuple):
            filename, content, content_type = value
            data.add_field(name, content, filename=filename, content_type=content_type)
        else:
            data.add_field(name, str(value))
    return data
