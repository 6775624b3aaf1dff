"""The endpoints, at the ASGI level: each reads the request, calls the pipeline, answers."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.catalog.snapshot import DATA_DESTINATIONS, Consumer, Model
from gateway.errors import (
    DeadlineExceeded,
    InvalidRequest,
    ModelNotFound,
    NotReady,
    ProxyError,
    UpstreamError,
)
from gateway.proxy import auth, policy, validate
from gateway.proxy.body import parse_json_object, read_body
from gateway.proxy.chunk import RawChunk
from gateway.proxy.reload import Holder, Loaded
from gateway.proxy.resolve import listed_models, resolve
from gateway.proxy.router import Outcome, Routed, Router, Streaming
from gateway.proxy.sse import DONE
from gateway.proxy.timeout import timeout_at
from gateway.quota.gate import QuotaGate, Ticket, unlimited
from gateway.usage.accounting import Accountant, Meter
from gateway.usage.log import UsageLog
from gateway.usage.pricing import Usage

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

log = logging.getLogger("modelyard.proxy")

JSON = b"application/json"
MAX_HEADERS = 100
MAX_HEADER_BYTES = 32 * 1024


class HeadersTooLarge(ProxyError):
    """Too many or too large request headers (431)."""

    status = 431
    type = "invalid_request_error"
    code = "request_headers_too_large"

DESTINATION_HEADER = b"x-modelyard-data-destination"


# One encoder for the process: json.dumps with non-default arguments builds one per call.
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def dumps(value: Any) -> bytes:
    return _encode(value).encode()


def sse_event(value: Any) -> bytes:
    """One `data:` event (sse.encode_event without its per-call encoder)."""
    return b"data: " + _encode(value).encode() + b"\n\n"


@dataclass(slots=True)
class Exchange:
    """One HTTP exchange: the ASGI triple and what the pipeline learnt so far."""

    scope: Scope
    receive: Receive
    send: Send
    request_id: str
    headers: list[tuple[bytes, bytes]]
    started: bool = False  # response headers sent: errors can no longer be a JSON answer

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    async def respond(self, status: int, body: bytes, extra: Sequence[tuple[bytes, bytes]] = (),
                      content_type: bytes = JSON) -> None:
        headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()),
                   (b"x-request-id", self.request_id.encode()), *extra]
        self.started = True
        await self.send({"type": "http.response.start", "status": status, "headers": headers})
        await self.send({"type": "http.response.body", "body": body})

    async def respond_error(self, error: ProxyError) -> None:
        extra = [(k.lower().encode(), str(v).encode()) for k, v in error.headers.items()]
        await self.respond(error.status, dumps(error.body()), extra)


class DisconnectWatch:
    """Cancels the request's task when the client goes away, so its upstream call stops.

    A watcher task starts only once the request is older than `START_AFTER_S`: most answers
    are done sooner, and a task created and cancelled for every request costs far more.
    Requests wait for that in one set per event loop, swept by one timer, rather than with
    a timer each. A client that leaves earlier is noticed then (uvicorn keeps the
    disconnect for the next receive).
    """

    START_AFTER_S = 0.05

    __slots__ = ("active", "gone", "since", "_task", "_receive", "_watcher", "_sweeper")

    def __init__(self, receive: Receive) -> None:
        self.active = True
        self.gone = False
        task = asyncio.current_task()
        assert task is not None  # always called from a request's task
        self._task = task
        self._receive = receive
        self._watcher: asyncio.Task | None = None
        self._sweeper = _Sweeper.of(task.get_loop())
        self.since = self._sweeper.add(self)

    def start(self) -> None:
        if self.active:
            self._watcher = self._task.get_loop().create_task(self._watch(self._receive))

    async def _watch(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                if self.active:
                    self.gone = True
                    self._task.cancel()
                return

    def close(self) -> None:
        if self.active:
            self.active = False
            self._sweeper.waiting.discard(self)
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None


class _Sweeper:
    """The requests of one event loop still waiting to be watched, and the timer that starts
    the watchers of those older than `START_AFTER_S` (armed only while any wait)."""

    _by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Sweeper] = \
        weakref.WeakKeyDictionary()
    _last: _Sweeper | None = None  # the usual case: one loop for the process

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.waiting: set[DisconnectWatch] = set()
        self.armed = False

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> _Sweeper:
        last = cls._last
        if last is not None and last.loop is loop:
            return last
        sweeper = cls._by_loop.get(loop)
        if sweeper is None:
            sweeper = cls._by_loop[loop] = cls(loop)
        cls._last = sweeper
        return sweeper

    def add(self, watch: DisconnectWatch) -> float:
        self.waiting.add(watch)
        if not self.armed:
            self.armed = True
            self.loop.call_later(DisconnectWatch.START_AFTER_S, self.sweep)
        return self.loop.time()

    def sweep(self) -> None:
        self.armed = False
        due = self.loop.time() - DisconnectWatch.START_AFTER_S
        for watch in [w for w in self.waiting if w.since <= due]:
            self.waiting.discard(watch)
            watch.start()
        if self.waiting:
            self.armed = True
            oldest = min(w.since for w in self.waiting)
            self.loop.call_at(oldest + DisconnectWatch.START_AFTER_S, self.sweep)


def inference_headers(headers: list[tuple[bytes, bytes]]) -> tuple[int | None, str | None]:
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
                raise InvalidRequest(f"request header {field} is reserved for the proxy's "
                                     "answers", param=field, code="reserved_header")
            value = raw.decode("latin-1").strip().lower()
            if destination is not None or value not in DATA_DESTINATIONS:
                raise InvalidRequest(f"{field} must be given once, as one of "
                                     f"{', '.join(DATA_DESTINATIONS)}", param=field)
            destination = value
    if size > MAX_HEADER_BYTES:
        raise HeadersTooLarge(f"request headers are larger than {MAX_HEADER_BYTES} bytes")
    return length, destination


def routing_headers(outcome: Outcome, dropped: tuple[str, ...] = ()) -> list[tuple[bytes, bytes]]:
    headers = [(b"x-modelyard-attempts", str(outcome.attempts).encode())]
    if outcome.channel is not None:
        headers.append((b"x-modelyard-channel", outcome.channel.name.encode()))
    if dropped:
        headers.append((b"x-modelyard-dropped-tools", ",".join(dropped).encode()))
    return headers


class Handlers:
    """The endpoints over one holder (the snapshot) and one router (channels and breakers)."""

    def __init__(self, holder: Holder, router: Router, *, no_auth: bool = False,
                 accountant: Accountant | None = None, gate: QuotaGate | None = None) -> None:
        self.holder = holder
        self.router = router
        self.no_auth = no_auth
        self.accountant = accountant or Accountant(UsageLog(None))
        self.gate = gate

    async def admit(self, routed: Routed) -> Ticket:
        """The quota gate's ticket for a request about to be routed (429/503 raised)."""
        return unlimited() if self.gate is None else await self.gate.admit(routed)

    def account(self, meter: Meter, routed: Routed, outcome: Outcome, status: int,
                error_code: str | None = None, usage: Usage | None = None,
                ticket: Ticket | None = None) -> list[tuple[bytes, bytes]]:
        """Record the finished request and settle its quota ticket; the cost headers to send,
        when it has a cost."""
        channel = outcome.channel
        if ticket is not None and ticket.gate is not None and usage is None:
            usage = Usage() if status >= 400 else meter.usage()  # the ticket needs it too
        cost = self.accountant.finish(
            meter, request_id=routed.request_id, consumer=routed.consumer.name,
            model=routed.model, channel=channel,
            upstream=channel.upstream_model if channel else None, attempts=outcome.attempts,
            status=status, error_code=error_code, native_tools=routed.native_tools,
            usage=usage)
        if ticket is not None:
            ticket.settle(status, usage, cost)
        if cost is None:
            return []
        return [(b"x-modelyard-cost", cost.text().encode()),
                (b"x-modelyard-currency", cost.currency.encode())]

    def loaded(self) -> Loaded:
        loaded = self.holder.current
        if loaded is None:
            raise NotReady("no snapshot is loaded yet")
        return loaded

    def consumer(self, loaded: Loaded, ex: Exchange) -> Consumer:
        if self.no_auth:
            return auth.ANONYMOUS
        return auth.authenticate(loaded.snapshot, ex.headers)

    # ----- health -----

    async def healthz(self, ex: Exchange) -> None:
        await ex.respond(200, b'{"status":"ok"}')

    async def readyz(self, ex: Exchange) -> None:
        status = self.holder.status()
        await ex.respond(200 if status["ready"] else 503, dumps(status))

    # ----- models -----

    async def list_models(self, ex: Exchange, loaded: Loaded, consumer: Consumer) -> None:
        data = [model_object(m) for m in listed_models(loaded.snapshot, consumer)]
        await ex.respond(200, dumps({"object": "list", "data": data}))

    async def get_model(self, ex: Exchange, loaded: Loaded, consumer: Consumer) -> None:
        name = ex.scope["path"][len("/v1/models/"):]
        model = resolve(loaded.snapshot, name, consumer)
        if model.visibility == "internal":  # usable by name in requests, never described
            raise ModelNotFound(f"The model `{name}` does not exist or you do not have access "
                                "to it.", param="model")
        await ex.respond(200, dumps(model_object(model)))

    # ----- inference -----

    async def routed(self, ex: Exchange, loaded: Loaded, consumer: Consumer,
                     endpoint: str) -> tuple[Routed, tuple[str, ...]]:
        """Read the body and take the request through resolve and policy."""
        length, destination = inference_headers(ex.headers)
        body = parse_json_object(await read_body(
            ex.receive, loaded.snapshot.settings.max_request_bytes, length))
        (validate.check_chat if endpoint == "chat" else validate.check_embeddings)(body)
        if "model" not in body:
            raise InvalidRequest("`model` is required", param="model")
        model = resolve(loaded.snapshot, body["model"], consumer)
        decision = policy.apply(loaded.snapshot, model, body, endpoint)
        return Routed(endpoint, decision.body, model, consumer, destination,
                      decision.native_tools, ex.request_id), decision.dropped_tools

    async def inference(self, ex: Exchange, loaded: Loaded, consumer: Consumer,
                        endpoint: str) -> None:
        routed, dropped = await self.routed(ex, loaded, consumer, endpoint)
        outcome = Outcome()
        meter = Meter(endpoint, str(routed.body.get("model")), routed.body)
        accounted = False
        watch = DisconnectWatch(ex.receive)
        ticket = unlimited()
        try:
            # The quota gate: admitted before routing, settled when the request is accounted.
            ticket = await self.admit(routed)
            if endpoint == "chat" and routed.body.get("stream"):
                streaming = await self.router.open_stream(loaded, routed, outcome)
                status, code = await self.stream(
                    ex, routed, streaming, routing_headers(outcome, dropped) + ticket.headers,
                    watch, meter)
                accounted = True
                self.account(meter, routed, outcome, status, code, ticket=ticket)
                return
            reply = await self.router.send(loaded, routed, outcome)
            watch.close()
            meter.observe_reply(reply.body)
            accounted = True
            cost_headers = self.account(meter, routed, outcome, reply.status, ticket=ticket)
            if reply.raw is not None:
                body, content_type = reply.raw, JSON
            elif reply.body is not None:
                body, content_type = dumps(reply.body), JSON
            else:
                body, content_type = reply.content or b"", reply.content_type.encode()
            await ex.respond(reply.status, body, routing_headers(outcome, dropped) + cost_headers
                             + ticket.headers, content_type)
        except ProxyError as error:
            if not accounted:
                accounted = True
                self.account(meter, routed, outcome, error.status, error.code, ticket=ticket)
            error.headers.update({k.decode(): v.decode()
                                  for k, v in routing_headers(outcome, dropped) + ticket.headers})
            raise
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if watch.gone and task is not None and task.uncancel() == 0:
                if not accounted:
                    self.account(meter, routed, outcome, 499, "client_closed_request",
                                 ticket=ticket)
                return  # the client left; its upstream request is cancelled with this task
            raise
        finally:
            watch.close()

    async def stream(self, ex: Exchange, routed: Routed, streaming: Streaming,
                     headers: list[tuple[bytes, bytes]], watch: DisconnectWatch,
                     meter: Meter) -> tuple[int, str | None]:
        """Send the stream; after the first byte, an upstream failure ends it with an error event."""
        keep_usage = bool((routed.body.get("stream_options") or {}).get("include_usage"))
        breaker = streaming.breaker
        try:
            ex.started = True
            await ex.send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache"),
                (b"x-request-id", ex.request_id.encode()), *headers]})
            try:
                with timeout_at(streaming.call.deadline.expires_at):
                    tail, error = await relay(ex.send, streaming, keep_usage, meter)
            except TimeoutError:  # the total deadline covers the whole stream
                tail = bytearray()
                error = DeadlineExceeded("the request's total deadline ran out")
        except BaseException:
            breaker.release()
            raise
        watch.close()
        status, code = 200, None
        if error is None:
            breaker.success()
            tail += DONE
        else:
            if isinstance(error, UpstreamError):
                breaker.failure()
                # The attempt counted as a success when its first chunk came; the channel's
                # recent health (and last error) must show that it broke off after all.
                self.router.stats.failure(streaming.call.channel.name,
                                          time.perf_counter() - meter.started,
                                          error.code or "upstream_error", error.message)
                body = error.body()["error"]
            else:
                log.error("stream failed: %r", error)
                breaker.release()
                body = {"message": "the stream failed", "type": "server_error", "param": None,
                        "code": "stream_failed"}
            tail += sse_event({"error": body})
            status, code = getattr(error, "status", 500), body.get("code")
        await ex.send({"type": "http.response.body", "body": bytes(tail), "more_body": False})
        return status, code


_END = object()


async def _pump(chunks: AsyncIterator[Mapping[str, Any]], batch: list, ready: asyncio.Event
                ) -> None:
    """Move chunks into `batch` as they arrive; the sender takes whatever has piled up."""
    try:
        async for chunk in chunks:
            batch.append(chunk)
            ready.set()
    except Exception as error:  # handed to the sender, which ends the client's stream with it
        batch.append(error)
    finally:
        batch.append(_END)
        ready.set()


async def relay(send: Send, streaming: Streaming, keep_usage: bool, meter: Meter | None = None
                ) -> tuple[bytearray, Exception | None]:
    """Relay chunks, one write per burst: chunks decoded from one upstream read go together.

    Returns the unsent tail and the error that ended the stream, if any; the caller writes
    the tail with the final event so the end of a stream costs one write.
    """
    batch: list = [streaming.first]
    ready = asyncio.Event()
    ready.set()  # the first chunk goes out at once, with nothing waiting behind it
    pump = asyncio.get_running_loop().create_task(_pump(streaming.rest, batch, ready))
    out = bytearray()
    try:
        while True:
            await ready.wait()
            ready.clear()
            items = batch[:]
            batch.clear()
            for item in items:
                if item is _END:
                    return out, None
                if isinstance(item, Exception):
                    return out, item
                if meter is not None:
                    meter.observe(item)
                if type(item) is RawChunk:
                    if item.plain or keep_usage or not _usage_only(item.data):
                        out += b"data: " + item.raw + b"\n\n"  # the upstream's bytes as they are
                    continue
                if not keep_usage and _usage_only(item):
                    continue  # asked for by the proxy, not by the client
                out += sse_event(item)
            if out:
                await send({"type": "http.response.body", "body": bytes(out), "more_body": True})
                out.clear()
    finally:
        pump.cancel()


def _usage_only(chunk: Mapping[str, Any]) -> bool:
    """The usage chunk the proxy asked for with `stream_options.include_usage`."""
    return not chunk.get("choices") and "usage" in chunk


def model_object(model: Model) -> Mapping[str, Any]:
    """A model in the OpenAI list shape, with the catalog's descriptive fields beside it."""
    return {"id": model.name, "object": "model", "created": 0, "owned_by": model.owner.code,
            "display_name": model.display_name, "type": model.type, "vendor": model.vendor,
            "description": model.description, "aliases": list(model.aliases)}
