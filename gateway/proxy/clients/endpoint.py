"""Client schemas other than chat (Anthropic Messages, OpenAI Responses) on the one
pipeline: each request translated to the chat form for policy and routing, answered in the
client's API, whole or streamed, with usage and cost accounted as for chat.

A `ClientAPI` supplies only what differs per client schema: the translation of its request
(and the native body, for channels whose adapter takes it as it is), the encoding of the
answer and of stream events, and its error shape. `endpoint` turns it into the pipeline's
`Endpoint` for one request (the translation needs the consumer: stored conversations are
theirs alone).
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.catalog.snapshot import Consumer, Model, Snapshot
from gateway.errors import ProxyError
from gateway.proxy import policy, validate
from gateway.proxy.adapters.base import NativeEvent, NativeRequest, Reply
from gateway.proxy.exchange import JSON, Exchange, dumps
from gateway.proxy.meter import Meter
from gateway.proxy.pipeline import Endpoint, Files, Prepared, StreamShape, read_json
from gateway.proxy.reload import Loaded
from gateway.proxy.router import Outcome, Routed, Router
from gateway.usage.pricing import Usage

log = logging.getLogger("modelyard.proxy")


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

    def answer(self) -> Mapping[str, Any] | None:
        """The complete answer the stream added up to, for storing (when kept)."""
        return None


class ClientAPI(ABC):
    """What one client schema supplies to the shared request flow."""

    protocol: str  # NativeRequest.protocol of its native body
    #: Whether the API's stream encoder takes `RawEvents` (runs of plain chat events).
    event_runs = False
    #: Whether the API keeps answers (stored responses): only then is `recall` asked what a
    #: request refers to, and a streamed answer rebuilt and handed to `finished`.
    keeps_answers = False

    async def recall(self, body: Mapping[str, Any], consumer: Consumer) -> Any:
        """What the request refers to in storage (a stored conversation), read before it is
        translated; handed to `translate` as `recalled`."""
        return None

    @abstractmethod
    def translate(
        self, body: dict[str, Any], consumer: Consumer, snapshot: Snapshot, recalled: Any = None
    ) -> Translated:
        """The chat form of the client's body (raises InvalidRequest when it is malformed)."""

    def native(
        self, translated: Translated, decision: policy.Decision, snapshot: Snapshot, ex: Exchange
    ) -> NativeRequest:
        """The native body with the policy's decisions applied (system prompts, tools)."""
        return NativeRequest(self.protocol, translated.native)

    @abstractmethod
    def answer(
        self, reply: Reply, translated: Translated
    ) -> tuple[dict[str, Any], Mapping[str, Any] | None]:
        """The client's answer, and the usage to account in OpenAI's shape."""

    @abstractmethod
    def encoder(self, translated: Translated, native: bool) -> StreamEncoder: ...

    @abstractmethod
    def error(self, error: ProxyError) -> tuple[int, Mapping[str, Any]]:
        """Status and body of an error in the client's shape."""

    async def finished(
        self, translated: Translated, answer: Mapping[str, Any] | None, *, streamed: bool
    ) -> None:
        """Called with a complete answer (whole, or rebuilt from a stream): storage hooks.
        A whole answer waits for it (and may still turn into an error); a streamed one has
        been sent, and is stored in the background."""
        return None


def _streams(body: Mapping[str, Any]) -> bool:
    return bool(body.get("stream"))


def _usage(body: Mapping[str, Any], reported: Mapping[str, Any] | None) -> Usage:
    """Usage from what the upstream reported (in OpenAI's shape), else the estimate."""
    meter = Meter("chat", "", body)
    meter.reported = reported
    return meter.usage()


class _Request:
    """One request's translation and answer, shared by the pipeline's hooks."""

    __slots__ = (
        "api",
        "ex",
        "consumer",
        "router",
        "recalled",
        "translated",
        "answer",
        "reported",
        "encoder",
    )

    def __init__(self, api: ClientAPI, ex: Exchange, consumer: Consumer, router: Router) -> None:
        self.api, self.ex, self.consumer, self.router = api, ex, consumer, router
        self.recalled: Any = None
        self.translated: Translated | None = None
        self.answer: dict[str, Any] | None = None
        self.reported: Mapping[str, Any] | None = None
        self.encoder: StreamEncoder | None = None

    async def read(
        self, ex: Exchange, loaded: Loaded, length: int | None
    ) -> tuple[dict[str, Any], Files]:
        fields, files = await read_json(ex, loaded, length)
        if self.api.keeps_answers:
            self.recalled = await self.api.recall(fields, self.consumer)
        return fields, files

    def prepare(
        self, snapshot: Snapshot, model: Model, body: dict[str, Any], files: Files
    ) -> Prepared:
        translated = self.api.translate(body, self.consumer, snapshot, self.recalled)
        translated.model, translated.consumer = model, self.consumer
        self.translated = translated
        validate.check_chat(translated.chat)
        decision = policy.apply(snapshot, model, translated.chat, "chat")
        native = None
        if self.router.takes_natively(snapshot, model, self.api.protocol):
            native = self.api.native(translated, decision, snapshot, self.ex)
        return Prepared(decision.body, decision.native_tools, decision.dropped_tools, native)

    async def finish(self, routed: Routed, outcome: Outcome, reply: Reply) -> Reply:
        """The whole answer, kept (stored) before it is measured and sent."""
        assert self.translated is not None
        self.answer, self.reported = self.api.answer(reply, self.translated)
        await self.api.finished(self.translated, self.answer, streamed=False)
        return reply

    def measure(self, routed: Routed, reply: Reply) -> Usage:
        return _usage(routed.body, self.reported)

    def write(self, routed: Routed, reply: Reply) -> tuple[bytes, bytes]:
        return dumps(self.answer), JSON

    def stream_shape(self, routed: Routed) -> StreamShape:
        return StreamShape(self.encode, finish=self.finish_stream, event_runs=self.api.event_runs)

    def encode(self, item: Mapping[str, Any]) -> bytes:
        if self.encoder is None:
            assert self.translated is not None
            self.encoder = self.api.encoder(self.translated, isinstance(item, NativeEvent))
        return self.encoder.feed(item)

    def finish_stream(self, error: Exception | None, meter: Meter) -> bytes:
        encoder = self.encoder
        assert encoder is not None and self.translated is not None
        if error is not None:
            if not isinstance(error, ProxyError):
                error = ProxyError("the stream failed", code="stream_failed")
            return encoder.fail(error)
        tail = encoder.end()
        meter.reported = encoder.usage() or meter.reported
        if self.api.keeps_answers:
            _background(self.api.finished(self.translated, encoder.answer(), streamed=True))
        return tail


_tasks: set[asyncio.Task] = set()


def _background(work: Coroutine[Any, Any, None]) -> None:
    """Run `work` after the answer; a failure is logged (its own hook said what it means)."""
    task = asyncio.get_running_loop().create_task(work)
    _tasks.add(task)
    task.add_done_callback(_done)


def _done(task: asyncio.Task) -> None:
    _tasks.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.warning("storing a streamed answer failed: %s", task.exception())


def endpoint(api: ClientAPI, ex: Exchange, consumer: Consumer, router: Router) -> Endpoint:
    """The pipeline's endpoint for one request of `api`'s clients (`router`: to know whether
    any channel of the model takes the client's body natively, else it is not prepared)."""
    request = _Request(api, ex, consumer, router)
    return Endpoint(
        "chat",
        request.prepare,
        streams=_streams,
        stream_shape=request.stream_shape,
        read=request.read,
        answer=request.write,
        measure=request.measure,
        finish=request.finish,
        error_body=api.error,
    )
