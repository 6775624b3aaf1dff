"""The seam between routing and protocols: one small interface every adapter implements.

The router hands an adapter a `Call` (an OpenAI-shaped request plus the resolved channel);
the adapter returns an OpenAI-shaped `Reply`, or an async iterator of OpenAI-shaped stream
chunks, or raises an `UpstreamError`. The router never knows a protocol; an adapter never
knows routing. Adding a protocol is adding a module `gateway/proxy/adapters/<protocol>.py`
(dashes become underscores) that defines `ADAPTER`, a subclass of `Adapter`.
"""

from __future__ import annotations

import base64
import importlib
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from gateway.catalog.snapshot import Channel, Model, NativeTool, Provider
from gateway.proxy.chunk import LazyJSON
from gateway.proxy.splice import Source

if TYPE_CHECKING:
    from gateway.usage.pricing import Usage

#: Endpoints a Call may target, named after the OpenAI API paths.
ENDPOINTS = (
    "chat",
    "embeddings",
    "images.generations",
    "images.edits",
    "audio.speech",
    "audio.transcriptions",
    "realtime",
    "videos",
    "videos.retrieve",
    "videos.content",
    "videos.delete",
    "messages.count_tokens",
)
#: The video job endpoints: "videos" creates a job (routed with failover); the others ask
#: the channel that created it, with the upstream's id in the body's `video_id`.
VIDEO_ENDPOINTS = frozenset({"videos", "videos.retrieve", "videos.content", "videos.delete"})


@dataclass(slots=True)  # built per request, read-only by convention: frozen costs 4x
class Deadline:
    """Timeouts of one attempt, bounded by the request's total deadline (monotonic seconds)."""

    connect_s: float
    first_byte_s: float
    expires_at: float  # time.monotonic() value after which the whole request has failed

    def remaining(self) -> float:
        return max(0.0, self.expires_at - time.monotonic())


@dataclass(frozen=True, slots=True)
class UploadFile:
    filename: str
    content: bytes
    content_type: str


@dataclass(frozen=True, slots=True)
class NativeRequest:
    """A client's request in its own protocol, for adapters that take that protocol natively.

    `protocol` names the client schema ("messages": Anthropic Messages, "responses": OpenAI
    Responses, "messages.count_tokens"); `body` is the client's body after policy, its
    `model` still the client's name; `headers` are the protocol headers to forward
    (anthropic-version, anthropic-beta).
    """

    protocol: str
    body: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)  # built per request, read-only by convention: frozen costs 4x
class Call:
    """One upstream attempt as the adapter sees it."""

    endpoint: str  # one of ENDPOINTS
    body: Mapping[
        str, Any
    ]  # OpenAI-shaped request after policy; body["model"] is the client's name
    model: Model
    channel: Channel
    provider: Provider
    secrets: Mapping[str, str]  # provider.auth with ${ENV} references resolved; never logged
    native_tools: Mapping[str, NativeTool]  # the allowed native tools present in the request
    deadline: Deadline
    files: Mapping[str, UploadFile] = field(default_factory=dict)  # multipart endpoints
    request_id: str = ""
    #: The stream's consumer takes runs of plain events: an adapter may then yield
    #: `RawEvents` (several plain chat events of one read, framed) as well as chunks.
    event_runs: bool = False
    native: NativeRequest | None = None  # the client's own body, when it spoke another API
    dropped_tools: tuple[str, ...] = ()  # native tools left out: the protocol cannot carry them
    #: The client's body as it came, `body` before policy: an adapter sending the body in
    #: its own shape splices the upstream's from these bytes (gateway/proxy/splice.py).
    source: Source | None = None

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))


@dataclass(slots=True)  # built per request, read-only by convention: frozen costs 4x
class Reply:
    """A complete (non-streamed) answer in OpenAI's shape: JSON body, or raw bytes, or bytes
    still arriving (`chunks`: speech audio relayed as the upstream sends it)."""

    body: Mapping[str, Any] | None = None
    raw: bytes | None = None  # `body` as JSON bytes (the upstream's, relayed); None once changed
    content: bytes | None = None
    content_type: str = "application/json"
    status: int = 200
    chunks: AsyncIterator[bytes] | None = None
    usage: Usage | None = None  # what the request used, when the proxy measured it (media)
    native: bool = False  # `body` is in the client's own protocol (Call.native), not OpenAI's


class UpstreamResponse(Protocol):
    """What the HTTP seam returns: status and headers read, body not yet consumed."""

    status: int
    headers: Mapping[str, str]

    async def read(self) -> bytes: ...
    async def json(self) -> Any: ...
    def iter_bytes(self) -> AsyncIterator[bytes]: ...
    def iter_sse(self) -> AsyncIterator[tuple[str | None, str]]: ...  # (event, data)
    async def close(self) -> None: ...


class RealtimeUpstream(Protocol):
    """An open upstream realtime session: JSON events as text frames, both ways."""

    async def send(self, text: str) -> None: ...
    async def receive(self) -> str | None: ...  # None once the upstream has closed
    async def close(self) -> None: ...


class HandshakeRefused(Exception):
    """An upstream answered a WebSocket upgrade with a plain HTTP status instead; the adapter
    turns it into an UpstreamError with the same status policy as any other answer."""

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes = b"") -> None:
        super().__init__(f"upstream refused the upgrade with status {status}")
        self.status = status
        self.headers = headers
        self.body = body

    async def read(self) -> bytes:  # the UpstreamResponse reading raise_for_status needs
        return self.body


class UpstreamHTTP(Protocol):
    """The HTTP client seam. Transport errors arrive here already mapped to UpstreamError
    subclasses (connect error, timeout); statuses are not interpreted: adapters do that.

    `json` is a value to send as JSON, or bytes already encoded as JSON (a splice of the
    client's body: gateway/proxy/splice.py; no JSON value is bytes); either way the request
    is typed application/json unless `headers` say otherwise."""

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
    ) -> UpstreamResponse: ...


class WebSocketOpener(Protocol):
    """What an `UpstreamHTTP` also offers when it can open WebSockets (realtime sessions)."""

    async def websocket(
        self, url: str, *, headers: Mapping[str, str], deadline: Deadline, max_frame_bytes: int
    ) -> RealtimeUpstream:
        """Open a WebSocket (raises HandshakeRefused for a non-101 answer)."""
        ...


class Adapter(ABC):
    """Converts OpenAI-shaped calls to one upstream protocol and back."""

    protocol: ClassVar[str]
    endpoints: ClassVar[frozenset[str]]  # the ENDPOINTS this protocol can serve
    #: Client protocols (NativeRequest.protocol) this upstream takes as they are: a call
    #: carrying one goes to `send_native` / `stream_native`, nothing lost in translation.
    native: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, http: UpstreamHTTP) -> None:
        self.http = http

    @abstractmethod
    async def send(self, call: Call) -> Reply:
        """Answer a non-streamed call, or raise an UpstreamError."""

    async def stream(self, call: Call) -> AsyncIterator[Mapping[str, Any]]:
        """Yield `chat.completion.chunk` dicts (the last one carrying usage when known).

        Errors raised before the first chunk is yielded let the router fail over; after it,
        the proxy ends the client's stream with an error event instead.
        """
        raise NotImplementedError
        yield {}  # pragma: no cover - makes this an async generator

    async def realtime_connect(self, call: Call) -> RealtimeUpstream:
        """Open the upstream realtime session of a "realtime" call (protocols that list
        "realtime" in `endpoints`); errors before it is open let the router fail over."""
        raise NotImplementedError

    def takes_native(self, call: Call) -> bool:
        """Whether `call` goes to this upstream in the client's own protocol."""
        return call.native is not None and call.native.protocol in self.native

    async def send_native(self, call: Call) -> Reply:
        """Answer `call.native` in its own protocol: a Reply with `native=True`."""
        raise NotImplementedError

    async def stream_native(self, call: Call) -> AsyncIterator[NativeEvent]:
        """Yield the upstream's events of `call.native`'s protocol, as they come."""
        raise NotImplementedError
        yield  # pragma: no cover - makes this an async generator


class NativeEvent(LazyJSON):
    """One server-sent event of a native stream: the event name and its JSON data, kept as
    the upstream's bytes until someone reads `data` (readable as a mapping, like a chunk)."""

    __slots__ = ("event",)

    def __init__(self, event: str | None, raw: bytes, data: dict[str, Any] | None = None) -> None:
        self.event = event
        self.raw = raw
        self._data = data

    def __repr__(self) -> str:
        return f"NativeEvent({self.event!r}, {self.raw!r})"


def auth_headers(secrets: Mapping[str, str]) -> dict[str, str]:
    """The auth header of a provider's `auth` (bearer, basic, or a named header), for every
    protocol that authenticates by header; sigv4 signs whole requests in its adapter."""
    kind = secrets.get("type", "none")
    if kind == "bearer":
        return {"Authorization": f"Bearer {secrets['token']}"}
    if kind == "basic":
        pair = f"{secrets['username']}:{secrets['password']}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
    if kind == "header":
        return {secrets["header"]: secrets["value"]}
    return {}


def adapter_class(protocol: str) -> type[Adapter]:
    """The adapter of a protocol, found by module name so the router never lists protocols."""
    module = importlib.import_module(f"gateway.proxy.adapters.{protocol.replace('-', '_')}")
    return module.ADAPTER
