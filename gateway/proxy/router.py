"""Routing one request: try channels in plan order, fail over within budget and deadline."""

from __future__ import annotations

import json
import math
import random
import time
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from gateway.catalog.snapshot import Channel, Consumer, Model, NativeTool, Snapshot
from gateway.errors import (
    CircuitOpen,
    DeadlineExceeded,
    NoChannelAvailable,
    ProxyError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTimeout,
)
from gateway.proxy import conversation, native_tools
from gateway.proxy.adapters.base import (
    Adapter,
    Call,
    Deadline,
    NativeRequest,
    RealtimeUpstream,
    Reply,
    UploadFile,
    UpstreamHTTP,
    adapter_class,
    auth_headers,
)
from gateway.proxy.breaker import Breakers, CircuitBreaker
from gateway.proxy.plan import RoutePlan, ordered_attempts, plan_route
from gateway.proxy.reload import Loaded
from gateway.proxy.splice import Source
from gateway.proxy.timeout import timeout_at
from gateway.usage.stats import Stats

T = TypeVar("T")

#: How early a timer may fire (the event loop rounds to the millisecond): an upstream timeout
#: this close to the total deadline is the deadline's.
SLACK_S = 0.005
Chunks = AsyncIterator[Mapping[str, Any]]
UNHEALTHY = ("circuit_open", "retry_after")


# Built per request, read-only by convention (frozen costs 4x), each with a compiled
# __init__ rather than the one dataclasses writes in Python (docs/development.md).


@dataclass(slots=True, init=False)
class Routed:
    """A request ready for routing: policy applied, model resolved."""

    endpoint: str
    body: Mapping[str, Any]
    model: Model
    consumer: Consumer
    max_destination: str | None
    native_tools: Mapping[str, NativeTool]
    request_id: str
    files: Mapping[str, UploadFile]  # multipart endpoints
    event_runs: bool  # the stream's consumer takes runs of plain events (Call.event_runs)
    native: NativeRequest | None  # the client's own body, for adapters that take it
    source: Source | None  # the client's body bytes, to splice the upstream's from (Call)

    def __init__(
        self,
        endpoint: str,
        body: Mapping[str, Any],
        model: Model,
        consumer: Consumer,
        max_destination: str | None,
        native_tools: Mapping[str, NativeTool],
        request_id: str,
        files: Mapping[str, UploadFile] | None = None,
        event_runs: bool = False,
        native: NativeRequest | None = None,
        source: Source | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.body = body
        self.model = model
        self.consumer = consumer
        self.max_destination = max_destination
        self.native_tools = native_tools
        self.request_id = request_id
        self.files = {} if files is None else files
        self.event_runs = event_runs
        self.native = native
        self.source = source


@dataclass(slots=True, init=False)
class Outcome:
    """Which channel answered, after how many upstream attempts."""

    channel: Channel | None
    attempts: int
    dropped_tools: tuple[str, ...]  # native tools the answering channel's protocol lacks

    def __init__(
        self, channel: Channel | None = None, attempts: int = 0, dropped_tools: tuple[str, ...] = ()
    ) -> None:
        self.channel = channel
        self.attempts = attempts
        self.dropped_tools = dropped_tools


@dataclass(slots=True, init=False)
class Streaming:
    """A started stream: its first chunk is in hand, the rest still upstream."""

    first: Mapping[str, Any]
    rest: Chunks
    call: Call
    breaker: CircuitBreaker
    native: bool  # the chunks are the upstream's NativeEvents of call.native's protocol

    def __init__(
        self,
        first: Mapping[str, Any],
        rest: Chunks,
        call: Call,
        breaker: CircuitBreaker,
        native: bool = False,
    ) -> None:
        self.first = first
        self.rest = rest
        self.call = call
        self.breaker = breaker
        self.native = native


class Router:
    """Holds the adapters (one per protocol, sharing the pooled HTTP client) and breakers."""

    def __init__(
        self, http: UpstreamHTTP, breakers: Breakers, rng: random.Random | None = None
    ) -> None:
        self.http = http
        self.breakers = breakers
        self.stats = Stats()  # recent health per channel, for /admin/status
        self.rng = rng or random.Random()
        self._adapters: dict[str, Adapter] = {}

    def adapter(self, protocol: str) -> Adapter:
        adapter = self._adapters.get(protocol)
        if adapter is None:
            adapter = self._adapters[protocol] = adapter_class(protocol)(self.http)
        return adapter

    def takes_natively(self, snapshot: Snapshot, model: Model, protocol: str) -> bool:
        """Whether any channel of `model` has an adapter that takes `protocol`'s requests as
        they are (so the client's own body is worth preparing)."""
        channels = snapshot.channels
        return any(
            protocol in self.adapter(channels[name].protocol).native
            for name in model.channels
            if name in channels
        )

    def availability(self, loaded: Loaded) -> Callable[[Channel], str | None]:
        """Why a channel cannot be tried now (missing secret, open circuit), or None."""

        def is_available(channel: Channel) -> str | None:
            reason = loaded.unavailable.get(channel.provider)
            if reason is not None:
                return reason
            breaker = self.breakers.peek(loaded.breaker_keys[channel.name])
            return None if breaker is None else breaker.unavailable()

        return is_available

    def plan(self, loaded: Loaded, routed: Routed) -> RoutePlan:
        return plan_route(
            loaded.snapshot,
            routed.model,
            routed.consumer,
            max_destination=routed.max_destination,
            is_available=self.availability(loaded),
        )

    async def send(self, loaded: Loaded, routed: Routed, outcome: Outcome) -> Reply:
        """A complete answer from the first channel that gives one."""

        async def attempt(call: Call, breaker: CircuitBreaker) -> Reply:
            adapter = self.adapter(call.channel.protocol)
            if adapter.takes_native(call):
                reply = await adapter.send_native(call)
                breaker.success()
                return reply
            reply = await conversation.send(adapter, conversation.prepare(call))
            breaker.success()
            return conversation.finish(call, reply)

        return await self._failover(loaded, routed, outcome, attempt)

    async def open_stream(self, loaded: Loaded, routed: Routed, outcome: Outcome) -> Streaming:
        """A stream whose first chunk arrived; failover happens only before that chunk."""

        async def attempt(call: Call, breaker: CircuitBreaker) -> Streaming:
            adapter = self.adapter(call.channel.protocol)
            native = adapter.takes_native(call)
            if native:
                chunks = cast(AsyncGenerator[Any, None], adapter.stream_native(call))
            else:
                chunks = cast(
                    AsyncGenerator[Mapping[str, Any], None],
                    conversation.finish_stream(call, adapter.stream(conversation.prepare(call))),
                )  # type: ignore[arg-type]
            try:
                first = await anext(chunks)
            except StopAsyncIteration:
                raise UpstreamProtocolError("upstream ended its stream before any chunk") from None
            except BaseException:
                await chunks.aclose()
                raise
            return Streaming(first, chunks, call, breaker, native)

        return await self._failover(loaded, routed, outcome, attempt)

    async def open_session(
        self, loaded: Loaded, routed: Routed, outcome: Outcome
    ) -> RealtimeUpstream:
        """An open realtime session from the first channel that accepts one; failover and
        breakers apply to the connect only, nothing is retried once it is open."""

        async def attempt(call: Call, breaker: CircuitBreaker) -> RealtimeUpstream:
            upstream = await self.adapter(call.channel.protocol).realtime_connect(call)
            breaker.success()
            return upstream

        return await self._failover(loaded, routed, outcome, attempt)

    async def send_to(self, loaded: Loaded, routed: Routed, channel: Channel) -> Reply:
        """One answer from `channel`, without failover: a follow-up about a job that channel
        holds (a video's status or content); it says nothing about the channel's health."""
        call = self._call(
            loaded, routed, channel, time.monotonic() + loaded.snapshot.settings.total_timeout_s
        )
        try:
            with timeout_at(call.deadline.expires_at):
                return await self.adapter(channel.protocol).send(call)
        except TimeoutError:
            raise DeadlineExceeded("the request's total deadline ran out") from None
        except UpstreamError as error:
            _scrub(error, call.secrets)
            raise

    async def _failover(
        self,
        loaded: Loaded,
        routed: Routed,
        outcome: Outcome,
        attempt: Callable[[Call, CircuitBreaker], Awaitable[T]],
    ) -> T:
        plan = self.plan(loaded, routed)
        if plan.empty:
            raise self._retry_after(loaded, plan, _nothing_available(routed.model, plan))
        settings = loaded.snapshot.settings
        expires_at = time.monotonic() + settings.total_timeout_s
        budget = 1 + settings.retry_budget
        last: UpstreamError | None = None
        serving = False  # some channel's protocol serves the endpoint
        for channel in ordered_attempts(plan, self.rng):
            if outcome.attempts >= budget:
                break
            if time.monotonic() >= expires_at:
                raise DeadlineExceeded("the request's total deadline ran out")
            if routed.endpoint not in self.adapter(channel.protocol).endpoints:
                continue  # e.g. an image model's channel on a protocol without image edits
            serving = True
            breaker = self.breakers.get(loaded.breaker_keys[channel.name], settings.breaker)
            if not breaker.acquire():  # opened by a concurrent request since planning
                continue
            outcome.attempts += 1
            outcome.channel = channel
            call = self._call(loaded, routed, channel, expires_at)
            outcome.dropped_tools = call.dropped_tools
            started = time.monotonic()
            try:
                with timeout_at(expires_at):
                    result = await attempt(call, breaker)
                self.stats.success(channel.name, time.monotonic() - started)
                return result
            except TimeoutError:
                raise self._ran_out(breaker, channel, started) from None
            except UpstreamError as error:
                if isinstance(error, UpstreamTimeout) and time.monotonic() >= expires_at - SLACK_S:
                    # aiohttp's timers are bounded by the total deadline too (upstream_http.py):
                    # one that fired with it is the deadline, whichever timer ran first
                    raise self._ran_out(breaker, channel, started) from None
                if error.retry_after is not None:
                    # An upstream's Retry-After holds the channel out for at most as long as
                    # the breaker's longest cooldown: `inf` or a year would hold it forever.
                    error.retry_after = (
                        min(error.retry_after, settings.breaker.max_cooldown_s)
                        if math.isfinite(error.retry_after)
                        else None
                    )
                if not error.retryable:
                    # The upstream is alive and said no: the client's request is at fault.
                    breaker.success()
                    self.stats.success(channel.name, time.monotonic() - started)
                    _scrub(error, call.secrets)
                    raise
                breaker.failure(error.retry_after)
                self.stats.failure(
                    channel.name,
                    time.monotonic() - started,
                    error.code or "upstream_error",
                    error.message,
                )
                last = error
            except BaseException:
                breaker.release()
                raise
        if not serving and outcome.attempts == 0:
            raise NoChannelAvailable(
                f"no channel of model `{routed.model.name}` speaks a "
                "protocol that serves "
                f"{routed.endpoint.replace('.', ' ')}"
            )
        if last is not None:
            if last.retry_after:  # the client's SDK backs off by it instead of guessing
                last.headers["retry-after"] = str(math.ceil(last.retry_after))
            try:
                raise last
            finally:
                # Raised here, the error's traceback holds this frame: were `last` still in
                # it, the two would make a cycle that only the cyclic collector frees.
                last = None
        raise self._retry_after(
            loaded,
            plan,
            CircuitOpen(f"every channel of model `{routed.model.name}` has an open circuit"),
        )

    def _ran_out(
        self, breaker: CircuitBreaker, channel: Channel, started: float
    ) -> DeadlineExceeded:
        """The total deadline ran out during an attempt: a failure of the channel's, and the
        error the client gets."""
        breaker.failure()
        self.stats.failure(channel.name, time.monotonic() - started, "deadline_exceeded", None)
        return DeadlineExceeded("the request's total deadline ran out")

    def _retry_after(self, loaded: Loaded, plan: RoutePlan, error: ProxyError) -> ProxyError:
        """Tell a client refused for open circuits when the first channel comes back."""
        if isinstance(error, CircuitOpen):
            channels = [c for c, reason in plan.excluded if reason in UNHEALTHY]
            channels += [c for _, members in plan.groups for c, _ in members]
            breakers = [self.breakers.peek(loaded.breaker_keys[c.name]) for c in channels]
            wait = min((b.seconds_until_available() for b in breakers if b), default=1.0)
            error.headers["retry-after"] = str(max(1, math.ceil(wait)))
        return error

    def _call(self, loaded: Loaded, routed: Routed, channel: Channel, expires_at: float) -> Call:
        settings = loaded.snapshot.settings
        first_byte = channel.options.get("timeout_s") or settings.first_byte_timeout_s
        body, natives, dropped = native_tools.for_protocol(
            routed.body, routed.native_tools, channel.protocol
        )
        return Call(
            endpoint=routed.endpoint,
            body=body,
            model=routed.model,
            channel=channel,
            provider=loaded.snapshot.providers[channel.provider],
            secrets=loaded.secrets[channel.provider],
            native_tools=natives,
            deadline=Deadline(settings.connect_timeout_s, first_byte, expires_at),
            files=routed.files,
            request_id=routed.request_id,
            native=routed.native,
            dropped_tools=dropped,
            event_runs=routed.event_runs,
            source=routed.source,
        )


def _scrub(error: UpstreamError, secrets: Mapping[str, str]) -> None:
    """Mask the channel's own credentials in an upstream error passed to the client: some
    upstreams echo the key they were sent, or the whole Authorization header."""
    forms = credential_forms(secrets)
    if not forms:
        return
    for value in forms:
        error.message = error.message.replace(value, "***")
    if error.upstream_body is not None:
        text = json.dumps(error.upstream_body)
        for value in forms:
            text = text.replace(json.dumps(value)[1:-1], "***")
        error.upstream_body = json.loads(text)


def credential_forms(secrets: Mapping[str, str]) -> list[str]:
    """Every form in which the channel's credentials leave the proxy: each secret value, and
    each auth header value as sent (a Basic header is base64, not the password), longest
    first so a longer form is masked whole."""
    forms = {v for k, v in secrets.items() if k not in ("type", "header") and len(v) >= 8}
    for value in auth_headers(secrets).values():
        forms.add(value)
        forms.add(value.split(" ", 1)[-1])  # the credential without its scheme
    return sorted((f for f in forms if len(f) >= 8), key=len, reverse=True)


def _nothing_available(model: Model, plan: RoutePlan) -> NoChannelAvailable:
    reasons = Counter(reason.split(" ")[0] for _, reason in plan.excluded)
    if (
        reasons
        and set(reasons) <= {*UNHEALTHY, "inactive", "owner", "data_destination"}
        and any(r in reasons for r in UNHEALTHY)
    ):
        return CircuitOpen(f"every channel of model `{model.name}` has an open circuit")
    summary = ", ".join(f"{n} {r}" for r, n in sorted(reasons.items())) or "no channels"
    return NoChannelAvailable(
        f"no channel of model `{model.name}` can serve this request ({summary})"
    )
