"""The one request path every inference endpoint runs through.

read and check the body → resolve the model → policy → admission gates → route with
failover → adapter → relay → account. An endpoint (gateway/proxy/endpoints.py) supplies only
what differs: how its body is read and checked, its policy, whether it streams, how a reply
and a stream are written, and the shape of its errors. Client disconnects, deadlines, 499
accounting, routing headers and error answers are handled here, once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.catalog.snapshot import Consumer, Model, NativeTool, Snapshot
from gateway.errors import (
    DeadlineExceeded,
    InvalidRequest,
    NotReady,
    ProxyError,
    UpstreamError,
)
from gateway.proxy import auth
from gateway.proxy.adapters.base import NativeRequest, Reply, UploadFile
from gateway.proxy.admission import Gate, Ticket
from gateway.proxy.body import parse_json_object, parse_source, read_body
from gateway.proxy.disconnect import DisconnectWatch
from gateway.proxy.exchange import (
    JSON,
    Exchange,
    Headers,
    dumps,
    inference_headers,
    openai_error_body,
    sse_event,
)
from gateway.proxy.meter import Meter
from gateway.proxy.relay import Encode, chat_encoder, relay, relay_bytes
from gateway.proxy.reload import Holder, Loaded
from gateway.proxy.resolve import resolve
from gateway.proxy.router import Outcome, Routed, Router, Streaming
from gateway.proxy.sse import DONE
from gateway.proxy.timeout import timeout_at
from gateway.usage.accounting import Accountant
from gateway.usage.log import UsageLog
from gateway.usage.pricing import Usage

log = logging.getLogger("modelyard.proxy")

Files = Mapping[str, UploadFile]


# Built per request, read-only by convention (frozen costs 4x), each with a compiled
# __init__ rather than the one dataclasses writes in Python (docs/development.md).


@dataclass(slots=True, init=False)
class Prepared:
    """The body as it goes to routing, and what policy took out of the request."""

    body: Mapping[str, Any]
    native_tools: Mapping[str, NativeTool]
    dropped_tools: tuple[str, ...]
    #: The client's own body, for adapters that take its protocol natively (client schemas
    #: other than chat: gateway/proxy/clients/).
    native: NativeRequest | None

    def __init__(
        self,
        body: Mapping[str, Any],
        native_tools: Mapping[str, NativeTool] | None = None,
        dropped_tools: tuple[str, ...] = (),
        native: NativeRequest | None = None,
    ) -> None:
        self.body = body
        self.native_tools = {} if native_tools is None else native_tools
        self.dropped_tools = dropped_tools
        self.native = native


def _error_event(body: Mapping[str, Any]) -> bytes:
    return sse_event({"error": body})


@dataclass(slots=True, init=False)
class StreamShape:
    """How one endpoint writes a stream: each chunk, the end, and an error after the start."""

    encode: Encode
    done: bytes
    error: Callable[[Mapping[str, Any]], bytes]
    content_type: bytes
    #: `encode` takes `RawEvents`, runs of plain chat events (gateway/proxy/chunk.py).
    event_runs: bool
    #: The closing bytes written from what went through, instead of `done` and `error`:
    #: called with the error that broke the stream off (None when complete) and the meter,
    #: to which it may report the usage of a stream whose chunks are not OpenAI's.
    finish: Callable[[Exception | None, Meter], bytes] | None

    def __init__(
        self,
        encode: Encode,
        done: bytes = DONE,
        error: Callable[[Mapping[str, Any]], bytes] = _error_event,
        content_type: bytes = b"text/event-stream",
        event_runs: bool = False,
        finish: Callable[[Exception | None, Meter], bytes] | None = None,
    ) -> None:
        self.encode = encode
        self.done = done
        self.error = error
        self.content_type = content_type
        self.event_runs = event_runs
        self.finish = finish


async def read_json(
    ex: Exchange, loaded: Loaded, length: int | None
) -> tuple[dict[str, Any], Files]:
    body = await read_body(ex.receive, loaded.snapshot.settings.max_request_bytes, length)
    return parse_json_object(body), {}


async def read_source(
    ex: Exchange, loaded: Loaded, length: int | None
) -> tuple[dict[str, Any], Files]:
    """`read_json`, keeping the body's bytes on the exchange (`Exchange.source`) where the
    upstream's body may be spliced from them: for endpoints whose requests go upstream in
    their own shape, changed by policy only in copies (gateway/proxy/splice.py)."""
    body = await read_body(ex.receive, loaded.snapshot.settings.max_request_bytes, length)
    fields, ex.source = parse_source(body)
    return fields, {}


def _never(body: Mapping[str, Any]) -> bool:
    return False


def _no_check(body: Mapping[str, Any]) -> None:
    return None


def answer_json(routed: Routed, reply: Reply) -> tuple[bytes, bytes]:
    """A complete reply as it goes to the client: the upstream's bytes where unchanged."""
    if reply.raw is not None:
        return reply.raw, JSON
    if reply.body is not None:
        return dumps(reply.body), JSON
    return reply.content or b"", reply.content_type.encode()


def chat_stream(routed: Routed) -> StreamShape:
    keep_usage = bool((routed.body.get("stream_options") or {}).get("include_usage"))
    return StreamShape(chat_encoder(keep_usage), event_runs=True)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """What one endpoint supplies to the pipeline; the rest is the same for all."""

    name: str  # the Call endpoint the adapters see (gateway.proxy.adapters.base.ENDPOINTS)
    prepare: Callable[[Snapshot, Model, dict[str, Any], Files], Prepared]
    check: Callable[[Mapping[str, Any]], None] = _no_check  # the body's form, before resolve
    read: Callable[[Exchange, Loaded, int | None], Awaitable[tuple[dict[str, Any], Files]]] = (
        read_source
    )
    streams: Callable[[Mapping[str, Any]], bool] = _never
    stream_shape: Callable[[Routed], StreamShape] = chat_stream
    answer: Callable[[Routed, Reply], tuple[bytes, bytes]] = answer_json
    #: Usage the proxy measures itself from the reply (images, audio); None: from the meter.
    measure: Callable[[Routed, Reply], Usage] | None = None
    error_body: Callable[[ProxyError], tuple[int, Mapping[str, Any]]] = openai_error_body
    #: Sees the reply with the channel that gave it, before it is measured and answered: an
    #: endpoint that keeps state about what a channel holds (video jobs) records it here.
    finish: Callable[[Routed, Outcome, Reply], Awaitable[Reply]] | None = None


def routing_headers(outcome: Outcome, dropped: tuple[str, ...] = ()) -> Headers:
    """Attempts, the answering channel, and the native tools left out: by policy (`dropped`)
    or because the answering channel's protocol cannot carry them."""
    dropped = (*dropped, *outcome.dropped_tools)
    headers = [(b"x-modelyard-attempts", str(outcome.attempts).encode())]
    if outcome.channel is not None:
        headers.append((b"x-modelyard-channel", outcome.channel.name.encode()))
    if dropped:
        headers.append((b"x-modelyard-dropped-tools", ",".join(dropped).encode()))
    return headers


@dataclass(slots=True, init=False)
class _Request:
    """One request on its way through: what accounting needs, whatever happens."""

    routed: Routed
    meter: Meter
    outcome: Outcome
    dropped: tuple[str, ...]
    tickets: list[Ticket]
    accounted: bool

    def __init__(
        self, routed: Routed, meter: Meter, outcome: Outcome, dropped: tuple[str, ...]
    ) -> None:
        self.routed = routed
        self.meter = meter
        self.outcome = outcome
        self.dropped = dropped
        self.tickets = []
        self.accounted = False

    def headers(self) -> Headers:
        headers = routing_headers(self.outcome, self.dropped)
        for ticket in self.tickets:
            headers += ticket.headers
        return headers


class Pipeline:
    """The endpoints over one holder (the snapshot), one router and one accountant."""

    def __init__(
        self,
        holder: Holder,
        router: Router,
        *,
        no_auth: bool = False,
        accountant: Accountant | None = None,
        gates: Sequence[Gate] = (),
    ) -> None:
        self.holder = holder
        self.router = router
        self.no_auth = no_auth
        self.accountant = accountant or Accountant(UsageLog(None))
        self.gates = list(gates)

    def loaded(self) -> Loaded:
        loaded = self.holder.current
        if loaded is None:
            raise NotReady("no snapshot is loaded yet")
        return loaded

    def consumer(self, loaded: Loaded, ex: Exchange) -> Consumer:
        if self.no_auth:
            return auth.ANONYMOUS
        return auth.authenticate(loaded.snapshot, ex.headers)

    async def run(
        self, ex: Exchange, loaded: Loaded, consumer: Consumer, endpoint: Endpoint
    ) -> None:
        """Answer one request on `endpoint`; every outcome is accounted exactly once."""
        length, destination = inference_headers(ex.headers)
        fields, files = await endpoint.read(ex, loaded, length)
        endpoint.check(fields)
        if "model" not in fields:
            raise InvalidRequest("`model` is required", param="model")
        model = resolve(loaded.snapshot, fields["model"], consumer)
        prepared = endpoint.prepare(loaded.snapshot, model, fields, files)
        routed = Routed(
            endpoint.name,
            prepared.body,
            model,
            consumer,
            destination,
            prepared.native_tools,
            ex.request_id,
            files=files,
            native=prepared.native,
            source=ex.source,
        )
        req = _Request(
            routed,
            Meter(endpoint.name, str(fields["model"]), prepared.body),
            Outcome(),
            prepared.dropped_tools,
        )
        watch = DisconnectWatch(ex.receive)
        try:
            for gate in self.gates:
                req.tickets.append(await gate.admit(routed))
            if endpoint.streams(routed.body):
                shape = endpoint.stream_shape(routed)
                routed.event_runs = shape.event_runs
                streaming = await self.router.open_stream(loaded, routed, req.outcome)
                status, code = await self._stream(ex, req, streaming, watch, shape)
                self._account(req, status, code)
                return
            reply = await self.router.send(loaded, routed, req.outcome)
            if reply.chunks is None:  # bytes still arriving: the client may leave meanwhile
                watch.close()
            await self._answer(ex, req, endpoint, reply)
        except ProxyError as error:
            self._account(req, error.status, error.code)
            error.headers.update({k.decode(): v.decode() for k, v in req.headers()})
            raise
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if watch.gone and task is not None and task.uncancel() == 0:
                self._account(req, 499, "client_closed_request")
                return  # the client left; its upstream request is cancelled with this task
            raise
        finally:
            watch.close()

    async def _answer(self, ex: Exchange, req: _Request, endpoint: Endpoint, reply: Reply) -> None:
        if endpoint.finish is not None:
            reply = await endpoint.finish(req.routed, req.outcome, reply)
        usage = None
        if endpoint.measure is not None:
            usage = endpoint.measure(req.routed, reply)
        else:
            req.meter.observe_reply(reply.body)
        headers = req.headers() + self._account(req, reply.status, None, usage)
        if reply.chunks is None:
            body, content_type = endpoint.answer(req.routed, reply)
            await ex.respond(reply.status, body, headers, content_type)
            return
        # The router bounds the wait for the first byte; this bounds the whole answer.
        total = self.loaded().snapshot.settings.total_timeout_s
        expires_at = time.monotonic() + total - (time.perf_counter() - req.meter.started)
        try:
            with timeout_at(expires_at):
                await relay_bytes(ex, reply.status, reply.content_type, reply.chunks, headers)
        except TimeoutError:
            raise DeadlineExceeded("the request's total deadline ran out") from None

    def record(
        self,
        routed: Routed,
        meter: Meter,
        outcome: Outcome,
        status: int,
        error_code: str | None = None,
        usage: Usage | None = None,
    ) -> Headers:
        """Account an exchange that does not end with `run`'s answer: each response of a
        realtime session, a video job billed when it completes. The cost headers, if any."""
        return self._account(_Request(routed, meter, outcome, ()), status, error_code, usage)

    def _account(
        self, req: _Request, status: int, error_code: str | None, usage: Usage | None = None
    ) -> Headers:
        """Record the finished request once; the cost headers to send, when it has a cost."""
        if req.accounted:
            return []
        req.accounted = True
        routed, outcome, meter = req.routed, req.outcome, req.meter
        if status >= 400:
            usage = Usage()
        elif usage is None:
            usage = meter.usage()
        channel = outcome.channel
        cost = self.accountant.finish(
            meter,
            request_id=routed.request_id,
            consumer=routed.consumer.name,
            model=routed.model,
            channel=channel,
            upstream=channel.upstream_model if channel else None,
            attempts=outcome.attempts,
            status=status,
            error_code=error_code,
            native_tools=routed.native_tools,
            usage=usage,
        )
        for ticket in req.tickets:
            try:
                ticket.settle(status, usage, cost)
            except Exception:  # a gate's bookkeeping never costs the client its answer
                log.exception(
                    "settling request %s with its admission gate failed", routed.request_id
                )
        if cost is None:
            return []
        return [
            (b"x-modelyard-cost", cost.text().encode()),
            (b"x-modelyard-currency", cost.currency.encode()),
        ]

    async def _stream(
        self,
        ex: Exchange,
        req: _Request,
        streaming: Streaming,
        watch: DisconnectWatch,
        shape: StreamShape,
    ) -> tuple[int, str | None]:
        """Send the stream; after the first byte, an upstream failure ends it with an error
        event."""
        breaker = streaming.breaker
        try:
            await ex.start_stream(200, shape.content_type, req.headers())
            try:
                with timeout_at(streaming.call.deadline.expires_at):
                    tail, error = await relay(
                        ex.send, streaming.first, streaming.rest, shape.encode, req.meter
                    )
            except TimeoutError:  # the total deadline covers the whole stream
                tail = []
                error = DeadlineExceeded("the request's total deadline ran out")
        except BaseException:
            breaker.release()
            raise
        watch.close()
        status, code = 200, None
        if shape.finish is not None:
            tail.append(shape.finish(error, req.meter))
        if error is None:
            breaker.success()
            if shape.finish is None:
                tail.append(shape.done)
        else:
            if isinstance(error, UpstreamError):
                breaker.failure()
                # The attempt counted as a success when its first chunk came; the channel's
                # recent health (and last error) must show that it broke off after all.
                self.router.stats.failure(
                    streaming.call.channel.name,
                    time.perf_counter() - req.meter.started,
                    error.code or "upstream_error",
                    error.message,
                )
                body = error.body()["error"]
            else:
                log.error("stream failed: %r", error)
                breaker.release()
                body = {
                    "message": "the stream failed",
                    "type": "server_error",
                    "param": None,
                    "code": "stream_failed",
                }
            if shape.finish is None:
                tail.append(shape.error(body))
            status, code = getattr(error, "status", 500), body.get("code")
        await ex.send({"type": "http.response.body", "body": b"".join(tail), "more_body": False})
        return status, code
