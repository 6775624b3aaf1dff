"""The images and audio endpoints: read JSON or multipart, then auth, resolve, policy, route.

Speech audio (and any other answer an adapter hands over as chunks) is streamed to the
client as it arrives; an upstream failure after the first byte cuts the response, so a
client never mistakes a truncated file for a whole one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import TYPE_CHECKING, Any

from gateway.catalog.snapshot import Consumer, Model
from gateway.errors import DeadlineExceeded, InvalidRequest, NoChannelAvailable, ProxyError
from gateway.proxy import media_policy, multipart
from gateway.proxy.adapters.base import Reply, UploadFile
from gateway.proxy.body import parse_json_object, read_body
from gateway.proxy.handlers import (
    JSON,
    DisconnectWatch,
    Exchange,
    dumps,
    inference_headers,
    routing_headers,
)
from gateway.proxy.media_usage import media_usage
from gateway.proxy.reload import Loaded
from gateway.proxy.resolve import resolve
from gateway.proxy.router import Outcome, Routed, Router
from gateway.proxy.timeout import timeout_at
from gateway.quota.gate import unlimited
from gateway.usage.accounting import Meter
from gateway.usage.pricing import Usage

if TYPE_CHECKING:
    from gateway.proxy.handlers import Handlers

MULTIPART = frozenset({"images.edits", "audio.transcriptions"})
#: Room for the form fields around an upload of the largest allowed size.
FORM_OVERHEAD = 64 * 1024


def body_limit(loaded: Loaded, endpoint: str) -> int:
    """Largest body accepted: the global limit, raised for transcription to fit the largest
    `max_file_bytes` of a transcription model (each model's own limit is checked later)."""
    limit = loaded.snapshot.settings.max_request_bytes
    if endpoint == "audio.transcriptions":
        for model in loaded.snapshot.models:
            largest = model.properties.get("max_file_bytes") if model.type == "transcription" \
                else None
            if isinstance(largest, int):
                limit = max(limit, largest + FORM_OVERHEAD)
    return limit


async def read_request(ex: Exchange, loaded: Loaded, endpoint: str, length: int | None
                       ) -> tuple[dict[str, Any], dict[str, UploadFile]]:
    """The request's fields and uploaded files (none for the JSON endpoints)."""
    raw = await read_body(ex.receive, body_limit(loaded, endpoint), length)
    if endpoint not in MULTIPART:
        return parse_json_object(raw), {}
    content_type = (ex.header(b"content-type") or b"").decode("latin-1")
    return multipart.parse(raw, content_type)


def check_channels(router: Router, loaded: Loaded, model: Model, endpoint: str) -> None:
    """503 unless some channel of `model` speaks a protocol whose adapter serves `endpoint`."""
    channels = loaded.snapshot.channels
    if not any(endpoint in router.adapter(channels[name].protocol).endpoints
               for name in model.channels if name in channels):
        raise NoChannelAvailable(f"no channel of model `{model.name}` speaks a protocol that "
                                 f"serves {endpoint.replace('.', ' ')}")


async def handle(handlers: Handlers, ex: Exchange, loaded: Loaded, consumer: Consumer,
                 endpoint: str) -> Usage | None:
    """Answer one media request; returns what it used (None when it failed)."""
    length, destination = inference_headers(ex.headers)
    fields, files = await read_request(ex, loaded, endpoint, length)
    if "model" not in fields:
        raise InvalidRequest("`model` is required", param="model")
    model = resolve(loaded.snapshot, fields["model"], consumer)
    body = media_policy.apply(model, endpoint, fields, files)
    check_channels(handlers.router, loaded, model, endpoint)
    routed = Routed(endpoint, body, model, consumer, destination, {}, ex.request_id,
                    files=files)
    outcome = Outcome()
    meter = Meter(endpoint, str(fields["model"]), body)
    expires_at = time.monotonic() + loaded.snapshot.settings.total_timeout_s
    watch = DisconnectWatch(ex.receive)
    accounted = False
    ticket = unlimited()
    try:
        ticket = await handlers.admit(routed)  # the quota gate, settled at accounting
        reply = await handlers.router.send(loaded, routed, outcome)
        reply = dataclasses.replace(reply, usage=media_usage(endpoint, model, body, files,
                                                             reply))
        accounted = True
        cost_headers = handlers.account(meter, routed, outcome, reply.status, usage=reply.usage,
                                        ticket=ticket)
        try:
            # The router bounds the wait for the first byte; this bounds the whole answer.
            with timeout_at(expires_at):
                await respond(ex, reply, routing_headers(outcome) + cost_headers + ticket.headers)
        except TimeoutError:
            raise DeadlineExceeded("the request's total deadline ran out") from None
        return reply.usage
    except ProxyError as error:
        if not accounted:
            handlers.account(meter, routed, outcome, error.status, error.code, ticket=ticket)
        error.headers.update({k.decode(): v.decode()
                              for k, v in routing_headers(outcome) + ticket.headers})
        raise
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if watch.gone and task is not None and task.uncancel() == 0:
            ticket.settle(499, None, None)
            return None  # the client left; its upstream request is cancelled with this task
        raise
    finally:
        watch.close()


async def respond(ex: Exchange, reply: Reply, headers: list[tuple[bytes, bytes]]) -> None:
    """Send a JSON or bytes reply whole, or relay its chunks as they come."""
    if reply.chunks is None:
        if reply.body is not None:
            body, content_type = dumps(reply.body), JSON
        else:
            body, content_type = reply.content or b"", reply.content_type.encode()
        await ex.respond(reply.status, body, headers, content_type)
        return
    chunks = reply.chunks
    try:
        ex.started = True
        await ex.send({"type": "http.response.start", "status": reply.status, "headers": [
            (b"content-type", reply.content_type.encode()),
            (b"x-request-id", ex.request_id.encode()), *headers]})
        async for chunk in chunks:
            if chunk:
                await ex.send({"type": "http.response.body", "body": chunk, "more_body": True})
        await ex.send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
