"""One HTTP exchange at the ASGI level: the request's headers, and answers in JSON or errors.

Errors are written in the shape of the client protocol the exchange speaks: OpenAI's by
default; an endpoint that speaks another protocol (Anthropic's Messages API) sets its own
`error_body` on the exchange as soon as its path is known, so even an authentication
failure is answered in the shape its SDK can read.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.catalog.snapshot import DATA_DESTINATIONS
from gateway.errors import HeadersTooLarge, InvalidRequest, ProxyError
from gateway.proxy.splice import Source

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

JSON = b"application/json"
MAX_HEADERS = 100
MAX_HEADER_BYTES = 32 * 1024
DESTINATION_HEADER = b"x-modelyard-data-destination"


# One encoder for the process: json.dumps with non-default arguments builds one per call.
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


_encode_ascii = json.JSONEncoder(separators=(",", ":")).encode


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON, by orjson (request bodies to upstreams and answers: several times
    the stdlib's speed on a 64 KB agent request); what orjson refuses (a lone surrogate an
    upstream sent escaped, an integer beyond 64 bits) by the stdlib, surrogates escaped."""
    try:
        return orjson.dumps(value)
    except TypeError:
        pass
    try:
        return _encode(value).encode()
    except UnicodeEncodeError:
        return _encode_ascii(value).encode()


def sse_event(value: Any) -> bytes:
    """One `data:` event (sse.encode_event without its per-call encoder)."""
    return b"data: " + dumps(value) + b"\n\n"


def openai_error_body(error: ProxyError) -> tuple[int, Mapping[str, Any]]:
    """The status and body of an error in OpenAI's shape (the default)."""
    return error.status, error.body()


@dataclass(slots=True, init=False)  # per request: a compiled __init__ (docs/development.md)
class Exchange:
    """One HTTP exchange: the ASGI triple and what the pipeline learnt so far."""

    scope: Scope
    receive: Receive
    send: Send
    request_id: str
    headers: Headers
    started: bool  # response headers sent: errors can no longer be a JSON answer
    error_body: Callable[[ProxyError], tuple[int, Mapping[str, Any]]]
    #: The request body as the client sent it, when the upstream's may be spliced from it
    #: (gateway/proxy/splice.py): set by `pipeline.read_source`.
    source: Source | None

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        request_id: str,
        headers: Headers,
        started: bool = False,
        error_body: Callable[[ProxyError], tuple[int, Mapping[str, Any]]] = openai_error_body,
    ) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        self.request_id = request_id
        self.headers = headers
        self.started = started
        self.error_body = error_body
        self.source = None

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    async def respond(
        self,
        status: int,
        body: bytes,
        extra: Sequence[tuple[bytes, bytes]] = (),
        content_type: bytes = JSON,
    ) -> None:
        headers = [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", self.request_id.encode()),
            *extra,
        ]
        self.started = True
        await self.send({"type": "http.response.start", "status": status, "headers": headers})
        await self.send({"type": "http.response.body", "body": body})

    async def respond_error(self, error: ProxyError) -> None:
        extra = [(k.lower().encode(), str(v).encode()) for k, v in error.headers.items()]
        status, body = self.error_body(error)
        await self.respond(status, dumps(body), extra)

    async def start_stream(self, status: int, content_type: bytes, extra: Headers) -> None:
        """Send the response head of a body that follows in pieces."""
        self.started = True
        await self.send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", content_type),
                    (b"cache-control", b"no-cache"),
                    (b"x-request-id", self.request_id.encode()),
                    *extra,
                ],
            }
        )


def inference_headers(headers: Headers) -> tuple[int | None, str | None]:
    """Content-Length and the data destination narrowing; x-modelyard-* is the proxy's own."""
    length: int | None = None
    destination: str | None = None
    if len(headers) > MAX_HEADERS:
        raise HeadersTooLarge(f"more than {MAX_HEADERS} request headers")
    size = 0
    for name, raw in headers:
        size += len(name) + len(raw)
        if name == b"content-length":
            length = int(raw) if raw.isdigit() else None
        elif name.startswith(b"x-modelyard-"):
            field = name.decode("latin-1")
            if name != DESTINATION_HEADER:
                raise InvalidRequest(
                    f"request header {field} is reserved for the proxy's answers",
                    param=field,
                    code="reserved_header",
                )
            value = raw.decode("latin-1").strip().lower()
            if destination is not None or value not in DATA_DESTINATIONS:
                raise InvalidRequest(
                    f"{field} must be given once, as one of {', '.join(DATA_DESTINATIONS)}",
                    param=field,
                )
            destination = value
    if size > MAX_HEADER_BYTES:
        raise HeadersTooLarge(f"request headers are larger than {MAX_HEADER_BYTES} bytes")
    return length, destination
