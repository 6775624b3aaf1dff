"""One request of a client that speaks another API than chat (Anthropic Messages, OpenAI
Responses): translated to the chat form for policy and routing, answered in the client's
API, whole or streamed, with the usage and cost accounted as for chat.

A `ClientAPI` supplies only what differs per client schema: the translation of its request
(and the native body, for channels whose adapter takes it as it is), the encoding of the
answer and of stream events, and its error shape. Auth, resolve, policy, routing with
failover, disconnects, the deadline and accounting are the proxy's, done here once.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gateway.catalog.snapshot import Consumer, Model, Snapshot
from gateway.errors import DeadlineExceeded, InvalidRequest, ProxyError, UpstreamError
from gateway.proxy import policy, validate
from gateway.proxy.adapters.base import NativeRequest, Reply
from gateway.proxy.body import parse_json_object, read_body
from gateway.proxy.handlers import (
    _END,
    DisconnectWatch,
    Exchange,
    _pump,
    dumps,
    inference_headers,
    log,
    routing_headers,
)
from gateway.proxy.reload import Loaded
from gateway.proxy.resolve import resolve
from gateway.proxy.router import Outcome, Routed, Streaming
from gateway.proxy.timeout import timeout_at
from gateway.usage.accounting import Meter

if TYPE_CHECKING:
    from gateway.proxy.handlers import Handlers

SSE = b"text/event-stream"


@dataclass(slots=True)
class Translated:
    """A client request read and translated: the chat form, the client's own body, and
    whatever the client API keeps for answering (the stored conversation, say)."""

    chat: dict[str, Any]
    native: dict[str, Any]
    model: Model | None = None
    consumer: Consumer | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class StreamEncoder(ABC):
    """Writes one streamed answer in the client's API, from chat chunks or native events."""

    @abstractmethod
    def feed(self, item: Any) -> bytes: ...

    @abstractmethod
    def end(self) -> bytes:
        """The closing events of a complete answer."""

    @abstractmethod
    def fail(self, error: ProxyError) -> bytes:
        """The event that ends a stream broken off after it started."""

    @abstractmethod
    def usage(self) -> Mapping[str, Any] | None:
        """The upstream's usage in OpenAI's shape, when it reported one."""


class ClientAPI(ABC):
    """What one client schema supplies to the shared request flow."""

    protocol: str  # NativeRequest.protocol of its native body

    @abstractmethod
    async def translate(self, body: dict[str, Any], consumer: Consumer,
                        snapshot: Snapshot) -> Translated:
        """The chat form of the client's body (raises InvalidRequest when it is malformed)."""

    def native(self, translated: Translated, decision: policy.Decision, snapshot: Snapshot,
               ex: Exchange) -> NativeRequest:
        """The native body with the policy's decisions applied (system prompts, tools)."""
        return NativeRequest(self.protocol, translated.native)

    @abstractmethod
    def answer(self, reply: Reply, translated: Translated,
               request_id: str) -> tuple[dict[str, Any], Mapping[str, Any] | None]:
        """The client's answer, and the usage to account in OpenAI's shape."""

    @abstractmethod
    def encoder(self, translated: Translated, native: bool, request_id: str) -> StreamEncoder: ...

    @abstractmethod
    def error(self, error: ProxyError, request_id: str) -> tuple[int, dict[str, Any]]:
        """Status and body of an error in the client's shape."""

    def finished(self, translated: Translated, answer: Mapping[str, Any]) -> None:
        """Called with a complete answer (whole, or rebuilt from a stream): storage hooks."""
        return None


async def serve(handlers: Handlers, ex: Exchange, api: ClientAPI) -> None:
    """Answer one request of `api`'s clients; errors go out in its shape."""
    try:
        loaded = handlers.loaded()
        consumer = handlers.consumer(loaded, ex)
        await _run(handlers, ex, loaded, consumer, api)
    except ProxyError as error:
        if not ex.started:
            await respond_error(ex, api, error)


async def respond_error(ex: Exchange, api: ClientAPI, error: ProxyError) -> None:
    status, body = api.error(error, ex.request_id)
    extra = [(k.lower().encode(), str(v).encode()) for k, v in error.headers.items()]
    await ex.respond(status, dumps(body), extra)


async def read_json(ex: Exchange, loaded: Loaded) -> tuple[dict[str, Any], str | None]:
    length, destination = inference_headers(ex.headers)
    raw = await read_body(ex.receive, loaded.snapshot.settings.max_request_bytes, length)
    return parse_json_object(raw), destination


async def prepare(ex: Exchange, loaded: Loaded, consumer: Consumer, api: ClientAPI
                  ) -> tuple[Routed, Translated, tuple[str, ...]]:
    """Read, translate, resolve and apply policy: the request ready for routing."""
    body, destination = await read_json(ex, loaded)
    if not isinstance(body.get("model"), str):
        raise InvalidRequest("model: Field required", param="model")
    snapshot = loaded.snapshot
    model = resolve(snapshot, body["model"], consumer)
    translated = await api.translate(body, consumer, snapshot)
    translated.model, translated.consumer = model, consumer
    validate.check_chat(translated.chat)
    decision = policy.apply(snapshot, model, translated.chat, "chat")
    native = api.native(translated, decision, snapshot, ex)
    routed = Routed("chat", decision.body, model, consumer, destination,
                    decision.native_tools, ex.request_id, native=native)
    return routed, translated, decision.dropped_tools


async def _run(handlers: Handlers, ex: Exchange, loaded: Loaded, consumer: Consumer,
               api: ClientAPI) -> None:
    routed, translated, dropped = await prepare(ex, loaded, consumer, api)
    outcome = Outcome()
    meter = Meter("chat", str(translated.native.get("model")), routed.body)
    accounted = False
    watch = DisconnectWatch(ex.receive)
    try:
        if routed.body.get("stream"):
            streaming = await handlers.router.open_stream(loaded, routed, outcome)
            status, code = await _stream(handlers, ex, api, translated, streaming,
                                         routing_headers(outcome, dropped), watch, meter)
            accounted = True
            handlers.account(meter, routed, outcome, status, code)
            return
        reply = await handlers.router.send(loaded, routed, outcome)
        watch.close()
        body, usage = api.answer(reply, translated, ex.request_id)
        meter.reported = usage
        accounted = True
        cost = handlers.account(meter, routed, outcome, reply.status)
        api.finished(translated, body)
        await ex.respond(reply.status, dumps(body), routing_headers(outcome, dropped) + cost)
    except ProxyError as error:
        if not accounted:
            accounted = True
            handlers.account(meter, routed, outcome, error.status, error.code)
        error.headers.update({k.decode(): v.decode()
                              for k, v in routing_headers(outcome, dropped)})
        raise
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if watch.gone and task is not None and task.uncancel() == 0:
            if not accounted:
                handlers.account(meter, routed, outcome, 499, "client_closed_request")
            return
        raise
    finally:
        watch.close()


async def _stream(handlers: Handlers, ex: Exchange, api: ClientAPI, translated: Translated,
                  streaming: Streaming, headers: Sequence[tuple[bytes, bytes]],
                  watch: DisconnectWatch, meter: Meter) -> tuple[int, str | None]:
    """Send the stream in the client's events; after the first byte an upstream failure
    ends it with the client API's error event."""
    encoder = api.encoder(translated, streaming.native, ex.request_id)
    breaker = streaming.breaker
    try:
        ex.started = True
        await ex.send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", SSE), (b"cache-control", b"no-cache"),
            (b"x-request-id", ex.request_id.encode()), *headers]})
        try:
            with timeout_at(streaming.call.deadline.expires_at):
                tail, error = await _relay(ex, streaming, encoder, meter)
        except TimeoutError:
            tail, error = bytearray(), DeadlineExceeded("the request's total deadline ran out")
    except BaseException:
        breaker.release()
        raise
    watch.close()
    status, code = 200, None
    if error is None:
        breaker.success()
        tail += encoder.end()
        meter.reported = encoder.usage() or meter.reported
        if (answer := getattr(encoder, "answer", None)) is not None:
            api.finished(translated, answer())
    else:
        if not isinstance(error, ProxyError):
            log.error("stream failed: %r", error)
            breaker.release()
            error = ProxyError("the stream failed", code="stream_failed")
        elif isinstance(error, UpstreamError):
            breaker.failure()
            handlers.router.stats.failure(streaming.call.channel.name,
                                          time.perf_counter() - meter.started,
                                          error.code or "upstream_error", error.message)
        tail += encoder.fail(error)
        status, code = error.status, error.code
    await ex.send({"type": "http.response.body", "body": bytes(tail), "more_body": False})
    return status, code


async def _relay(ex: Exchange, streaming: Streaming, encoder: StreamEncoder, meter: Meter
                 ) -> tuple[bytearray, Exception | None]:
    """Encode and relay, one write per burst of items that arrived together."""
    batch: list = [streaming.first]
    ready = asyncio.Event()
    ready.set()
    pump = asyncio.get_running_loop().create_task(_pump(streaming.rest, batch, ready))
    out = bytearray()
    native = streaming.native
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
                if native:
                    if meter.first_chunk is None:
                        meter.first_chunk = time.perf_counter()
                else:
                    meter.observe(item)
                out += encoder.feed(item)
            if out:
                await ex.send({"type": "http.response.body", "body": bytes(out),
                               "more_body": True})
                out.clear()
    finally:
        pump.cancel()
