"""The realtime endpoint: `GET /v1/realtime?model=…`, a client WebSocket relayed to an
upstream realtime session.

Auth, resolve, the model's type and the routing to a channel (failover and breakers
included) all happen before the client's upgrade is accepted: a refusal is a plain HTTP
answer in OpenAI's error shape, and the accepted upgrade names the channel. Once open,
events are relayed one frame at a time both ways, never a conversation at once; only the
few client events policy rules over and the upstream's `response.done` (usage) are parsed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from gateway.catalog.snapshot import Consumer
from gateway.errors import AuthenticationFailed, InvalidRequest, ProxyError
from gateway.proxy import auth
from gateway.proxy.adapters.base import RealtimeUpstream
from gateway.proxy.admission import Ticket
from gateway.proxy.exchange import dumps, inference_headers
from gateway.proxy.meter import Meter
from gateway.proxy.pipeline import Pipeline, routing_headers
from gateway.proxy.realtime_policy import EventRefused, SessionPolicy
from gateway.proxy.realtime_usage import add, response_done
from gateway.proxy.reload import Loaded
from gateway.proxy.resolve import resolve
from gateway.proxy.router import Outcome, Routed
from gateway.usage.pricing import Usage, cost_of

if TYPE_CHECKING:
    from gateway.proxy.exchange import Receive, Scope, Send

log = logging.getLogger("modelyard.proxy")

PATH = "/v1/realtime"
#: The browser form of auth: the key as a subprotocol, since browsers cannot set headers.
KEY_SUBPROTOCOL = "openai-insecure-api-key."
BETA_SUBPROTOCOL = "openai-beta.realtime-v1"
SUBPROTOCOL = "realtime"  # chosen when offered, as OpenAI does; the key is never echoed
#: How a session ended -> the usage log's error code (None: an ordinary end).
ENDINGS = {
    "client_closed": None,
    "upstream_closed": None,
    "idle_timeout": "idle_timeout",
    "session_expired": "session_expired",
    "frame_too_large": "frame_too_large",
}
_SESSION_EVENTS = ('"session.created"', '"session.updated"')


def subprotocols(headers: list[tuple[bytes, bytes]]) -> list[str]:
    return [
        p.strip()
        for name, value in headers
        if name == b"sec-websocket-protocol"
        for p in value.decode("latin-1").split(",")
        if p.strip()
    ]


def credentials(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The headers auth reads: the key from a subprotocol when no header carries one."""
    if any(name in (b"authorization", b"x-api-key") for name, _ in headers):
        return headers
    keys = [
        p[len(KEY_SUBPROTOCOL) :] for p in subprotocols(headers) if p.startswith(KEY_SUBPROTOCOL)
    ]
    if len(keys) > 1:
        raise AuthenticationFailed("the API key subprotocol was sent more than once")
    return [(b"authorization", b"Bearer " + keys[0].encode("latin-1"))] if keys else headers


def beta_header(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The client's `OpenAI-Beta` realtime header (or its subprotocol form), relayed upstream."""
    for name, value in headers:
        if name == b"openai-beta" and b"realtime" in value:
            return value.decode("latin-1")
    return "realtime=v1" if BETA_SUBPROTOCOL in subprotocols(headers) else None


class ClientSocket:
    """The client's side of the session, at the ASGI level."""

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope, self.receive, self.send = scope, receive, send
        self.open = False

    async def deny(self, error: ProxyError, request_id: str) -> None:
        """Refuse the upgrade with the error as an HTTP answer (a bare close without the
        ASGI extension for that)."""
        if "websocket.http.response" not in self.scope.get("extensions", {}):
            await self.send(
                {"type": "websocket.close", "code": 1008 if error.status < 500 else 1011}
            )
            return
        body = dumps(error.body())
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", request_id.encode()),
            *((k.lower().encode(), str(v).encode()) for k, v in error.headers.items()),
        ]
        await self.send(
            {"type": "websocket.http.response.start", "status": error.status, "headers": headers}
        )
        await self.send({"type": "websocket.http.response.body", "body": body})

    async def accept(self, headers: list[tuple[bytes, bytes]]) -> None:
        offered = subprotocols(self.scope["headers"])
        await self.send(
            {
                "type": "websocket.accept",
                "headers": headers,
                "subprotocol": SUBPROTOCOL if SUBPROTOCOL in offered else None,
            }
        )
        self.open = True

    async def send_text(self, text: str) -> bool:
        """Send one frame; False once the client is gone."""
        try:
            await self.send({"type": "websocket.send", "text": text})
        except OSError:  # the server's "client disconnected"
            self.open = False
        return self.open

    async def close(self, code: int = 1000) -> None:
        if self.open:
            self.open = False
            with contextlib.suppress(OSError):  # already gone: nothing left to close
                await self.send({"type": "websocket.close", "code": code})


async def serve(
    pipeline: Pipeline, scope: Scope, receive: Receive, send: Send, request_id: str
) -> None:
    """One realtime session, from the upgrade request to the last frame: the pipeline's
    auth, resolve, admission gates, routing and accounting, around a relay of its own."""
    if (await receive())["type"] != "websocket.connect":
        return
    client = ClientSocket(scope, receive, send)
    routed: Routed | None = None
    outcome = Outcome()
    tickets: list[Ticket] = []
    try:
        loaded = pipeline.loaded()
        routed = _routed(pipeline, loaded, scope, request_id)
        for gate in pipeline.gates:
            tickets.append(await gate.admit(routed))
        upstream = await pipeline.router.open_session(loaded, routed, outcome)
    except ProxyError as error:
        if routed is not None:
            pipeline.record(
                routed,
                Meter("realtime", routed.body["model"], {}),
                outcome,
                error.status,
                error.code,
            )
        for ticket in tickets:
            ticket.settle(error.status, Usage(), None)
        error.headers.update({k.decode(): v.decode() for k, v in routing_headers(outcome)})
        await client.deny(error, request_id)
        return
    policy = SessionPolicy(loaded.snapshot, routed.model, beta=bool(routed.body.get("beta")))
    session = Session(pipeline, loaded, routed, outcome, client, upstream, policy, tickets)
    await session.run()


async def refuse(
    scope: Scope, receive: Receive, send: Send, request_id: str, error: ProxyError
) -> None:
    """Answer an upgrade request with an error, without opening anything."""
    if (await receive())["type"] == "websocket.connect":
        await ClientSocket(scope, receive, send).deny(error, request_id)


def _routed(pipeline: Pipeline, loaded: Loaded, scope: Scope, request_id: str) -> Routed:
    headers = scope["headers"]
    _, destination = inference_headers(headers)
    consumer: Consumer = (
        auth.ANONYMOUS
        if pipeline.no_auth
        else auth.authenticate(loaded.snapshot, credentials(headers))
    )
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    names = query.get("model") or []
    if len(names) != 1 or not names[0]:
        raise InvalidRequest(
            "`model` is required once in the query: /v1/realtime?model=NAME", param="model"
        )
    model = resolve(loaded.snapshot, names[0], consumer)
    if model.type != "realtime":
        raise InvalidRequest(
            f"model `{model.name}` is a {model.type} model, not a realtime model",
            param="model",
            code="model_type_mismatch",
        )
    connect = {
        "model": names[0],
        "beta": beta_header(headers),
        "max_frame_bytes": loaded.snapshot.settings.realtime_max_frame_bytes,
    }
    return Routed("realtime", connect, model, consumer, destination, {}, request_id)


class Session:
    """An open session: two relays and a watchdog, the first of them to end ends it."""

    def __init__(
        self,
        pipeline: Pipeline,
        loaded: Loaded,
        routed: Routed,
        outcome: Outcome,
        client: ClientSocket,
        upstream: RealtimeUpstream,
        policy: SessionPolicy,
        tickets: list[Ticket],
    ) -> None:
        self.pipeline, self.routed, self.outcome = pipeline, routed, outcome
        self.tickets = tickets
        self.total = Usage()  # of every response so far: what the admission gates settle
        self.client, self.upstream, self.policy = client, upstream, policy
        self.settings = loaded.snapshot.settings
        self.loop = asyncio.get_running_loop()
        self.started = self.last = self.loop.time()
        self.meter = Meter("realtime", str(routed.body["model"]), {})
        self.asked: list[float] = []  # loop time of each response.create not yet done
        self.rename = _renamer(
            outcome.channel.upstream_model if outcome.channel else None, str(routed.body["model"])
        )

    async def run(self) -> None:
        channel = self.outcome.channel
        try:
            headers = routing_headers(self.outcome)
            for ticket in self.tickets:
                headers += ticket.headers
            await self.client.accept(headers + [(b"x-request-id", self.routed.request_id.encode())])
            tasks = [
                asyncio.ensure_future(c)
                for c in (self.from_client(), self.from_upstream(), self.watchdog())
            ]
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            ending = next(iter(done)).result()
        finally:
            await self.upstream.close()  # at once: the upstream bills an open session
        await self._end(ending)
        log.debug(
            "realtime session %s on %s ended: %s",
            self.routed.request_id,
            channel and channel.name,
            ending,
        )

    async def _end(self, ending: str) -> None:
        if ending in ("idle_timeout", "session_expired", "frame_too_large"):
            await self.client.send_text(
                dumps(
                    EventRefused(
                        f"the session ended: {ending.replace('_', ' ')}", param=None, code=ending
                    ).event()
                ).decode()
            )
        await self.client.close(1009 if ending == "frame_too_large" else 1000)
        seconds = Decimal(str(round(self.loop.time() - self.started, 3)))
        self.pipeline.record(
            self.routed,
            self.meter,
            self.outcome,
            200,
            ENDINGS.get(ending),
            usage=Usage(session_seconds=seconds),
        )
        self.total.session_seconds = seconds
        channel = self.outcome.channel
        cost = cost_of(self.total, channel.price if channel else None)
        for ticket in self.tickets:
            try:
                ticket.settle(200, self.total, cost)
            except Exception:  # a gate's bookkeeping never costs the session its end
                log.exception("settling realtime session %s failed", self.routed.request_id)

    def _too_large(self, text: str) -> bool:
        limit = self.settings.realtime_max_frame_bytes
        return len(text) > limit or (len(text) * 4 > limit and len(text.encode()) > limit)

    async def from_client(self) -> str:
        receive, upstream, policy = self.client.receive, self.upstream, self.policy
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                self.client.open = False
                return "client_closed"
            text = message.get("text")
            if text is None:
                text = (message.get("bytes") or b"").decode("utf-8", "replace")
            self.last = self.loop.time()
            if self._too_large(text):
                return "frame_too_large"
            try:
                frames = policy.client_frame(text)
            except EventRefused as refused:
                await self.client.send_text(dumps(refused.event()).decode())
                continue
            if '"response.create"' in text:
                self.asked.append(self.loop.time())
            try:
                for frame in frames:
                    await upstream.send(frame)
            except (OSError, RuntimeError):  # the upstream went away; its reader says so
                return "upstream_closed"

    async def from_upstream(self) -> str:
        receive, client = self.upstream.receive, self.client
        while True:
            text = await receive()
            if text is None:
                return "upstream_closed"
            self.last = self.loop.time()
            done = response_done(text)
            if done is not None:
                self._account(done[1])
            elif any(name in text for name in _SESSION_EVENTS):
                text = self.rename(text)
            if not await client.send_text(text):
                return "client_closed"

    async def watchdog(self) -> str:
        idle, longest = self.settings.realtime_idle_timeout_s, self.settings.realtime_max_session_s
        while True:
            now = self.loop.time()
            if now >= self.started + longest:
                return "session_expired"
            if now >= self.last + idle:
                return "idle_timeout"
            await asyncio.sleep(min(self.started + longest, self.last + idle) - now)

    def _account(self, usage: Usage) -> None:
        """One usage log record per response: its tokens and their cost."""
        asked = self.asked.pop(0) if self.asked else self.last
        meter = Meter("realtime", self.meter.requested_model, {})
        meter.started -= self.loop.time() - asked  # the response's time, from its request
        self.pipeline.record(self.routed, meter, self.outcome, 200, usage=usage)
        self.total = add(self.total, usage)


def _renamer(upstream_model: str | None, client_model: str) -> Callable[[str], str]:
    """Session events name the model as the client asked for it, never the upstream's."""

    def rename(text: str) -> str:
        try:
            event = json.loads(text)
        except ValueError:
            return text
        session = event.get("session") if isinstance(event, dict) else None
        if isinstance(session, dict) and session.get("model") == upstream_model:
            session["model"] = client_model
            return dumps(event).decode()
        return text

    return rename
