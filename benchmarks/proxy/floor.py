"""The floor: the least a gateway doing modelyard's job must do per request, written as
tightly as we can in Python, to tell how much of the gap to the bare pass-through (the
`baseline`, passthrough.py) any such gateway must pay.

On the baseline's stack (a raw ASGI app on uvicorn with uvloop and httptools, one pooled
aiohttp session, orjson) it adds, per request, only what serving a catalog's models to
its consumers cannot skip:

- authenticate the client: the bearer key's SHA-256 looked up among the consumers' digests
  (401 otherwise);
- route the public model name to its channel (404 for another) and send the upstream its
  own model name, spliced into the client's bytes (the parsed body dropped at once, as
  the baseline drops it; streams ask for usage, as the benchmark's channel says);
- answer with the public model name: a bytes replace over the answer, or over each
  streamed chunk as it comes (the floor may be naive where that makes it cheaper: the
  first `"model":"<name>"` of the request is taken for the top-level one, and a name split
  between two chunks stays unrenamed);
- meter: the usage read from the answer, or from the stream's last events, priced per
  token; the cost and the request id sent as headers;
- account: one record per request, written as a JSON line to a usage log every 100 ms.

What modelyard does beyond it: validation of the request, policy (allowed parameters,
prompts, tools), failover, circuit breakers and deadlines, the disconnect watch, metrics
and latency statistics, errors in OpenAI's shape, a body encoded again from the parsed
request (kept for failover and for estimating usage the upstream does not report), and a
rename that holds across chunk boundaries and proves each event plain before relaying it
whole.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
from collections.abc import Callable
from decimal import Decimal
from typing import Any, NamedTuple

import aiohttp
import orjson

from benchmarks.proxy import bench_catalog
from benchmarks.proxy.passthrough import read_body, serve_lifespan

USAGE_LOG_ENV = "BENCH_USAGE_LOG"
FLUSH_S = 0.1


class Channel(NamedTuple):
    url: str
    upstream: bytes  # `"model":"<upstream name>"` as the upstream writes it
    public: bytes  # the same with the public name
    upstream_model: str
    input_per_token: float
    output_per_token: float


def _channels(routes: dict[str, str]) -> dict[str, Channel]:
    """The benchmark catalog's two models (bench_catalog.py), priced per token."""
    per_token = Decimal(1_000_000)
    return {
        model: Channel(
            url,
            b'"model":"bench-upstream"',
            b'"model":"' + model.encode() + b'"',
            "bench-upstream",
            float(Decimal("0.15") / per_token),
            float(Decimal("0.60") / per_token),
        )
        for model, url in routes.items()
    }


_INCLUDE_USAGE = b'"stream_options":{"include_usage":true}'
_state: dict[str, Any] = {}
_ids = itertools.count(1)


async def floor_app(scope: dict, receive: Callable, send: Callable) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    consumer = _consumer(scope["headers"])
    if consumer is None:
        await _refuse(send, 401, b"invalid_api_key")
        return
    body = await read_body(receive)
    fields = orjson.loads(body)
    channel: Channel | None = _state["channels"].get(fields.get("model"))
    streams = fields.get("stream") is True
    del fields  # the parsed body is dropped at once, as the baseline drops it
    if channel is None:
        await _refuse(send, 404, b"model_not_found")
        return
    body = body.replace(channel.public, channel.upstream, 1)  # spliced, not encoded again
    if streams and b'"stream_options"' not in body:
        body = body.replace(b'"stream":true', b'"stream":true,' + _INCLUDE_USAGE, 1)
    request_id = b"%024x" % next(_ids)
    session: aiohttp.ClientSession = _state["session"]
    async with session.post(channel.url, data=body, headers=_state["headers"]) as upstream:
        content_type = upstream.headers.get("Content-Type", "application/json").encode()
        if streams:
            await send(
                {
                    "type": "http.response.start",
                    "status": upstream.status,
                    "headers": [(b"content-type", content_type), (b"x-request-id", request_id)],
                }
            )
            last = b""
            async for chunk in upstream.content.iter_any():
                chunk = chunk.replace(channel.upstream, channel.public)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                last = chunk
            await send({"type": "http.response.body", "body": b""})
            usage = _stream_usage(last)
            cost = _cost(channel, usage)
        else:
            raw = await upstream.read()
            usage = orjson.loads(raw).get("usage") or {}
            cost = _cost(channel, usage)
            await send(
                {
                    "type": "http.response.start",
                    "status": upstream.status,
                    "headers": [
                        (b"content-type", content_type),
                        (b"x-request-id", request_id),
                        (b"x-modelyard-cost", b"%.10f" % cost),
                        (b"x-modelyard-currency", b"USD"),
                    ],
                }
            )
            body = raw.replace(channel.upstream, channel.public, 1)
            await send({"type": "http.response.body", "body": body})
    _state["records"].append(
        (request_id, consumer, channel.upstream_model, upstream.status, usage, cost)
    )


def _consumer(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"authorization":
            if not value.startswith(b"Bearer "):
                return None
            return _state["consumers"].get(hashlib.sha256(value[7:]).hexdigest())
    return None


def _stream_usage(tail: bytes) -> dict[str, Any]:
    """The usage of the stream's usage event, found in its last chunk."""
    at = tail.rfind(b'"usage":{')
    if at < 0:
        return {}
    start = tail.rfind(b"data: ", 0, at) + len(b"data: ")
    end = tail.find(b"\n", at)
    return orjson.loads(tail[start : end if end >= 0 else None]).get("usage") or {}


def _cost(channel: Channel, usage: dict[str, Any]) -> float:
    return (
        usage.get("prompt_tokens", 0) * channel.input_per_token
        + usage.get("completion_tokens", 0) * channel.output_per_token
    )


async def _refuse(send: Callable, status: int, code: bytes) -> None:
    body = b'{"error":{"message":"refused","type":"invalid_request_error","code":"%s"}}' % code
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Callable, send: Callable) -> None:
    key_digest = hashlib.sha256(bench_catalog.CLIENT_KEY.encode()).hexdigest()
    _state.update(consumers={key_digest: "bench-client"}, records=[])

    async def started(message: dict[str, Any]) -> None:
        if message["type"] == "lifespan.startup.complete":
            _state["channels"] = _channels(_state["routes"])
            _state["flusher"] = asyncio.get_running_loop().create_task(_flush_every())
        await send(message)

    await serve_lifespan(receive, started, _state)
    _state["flusher"].cancel()


async def _flush_every() -> None:
    """Write the finished requests' records as usage-log lines, in one batch every 100 ms."""
    path = os.environ.get(USAGE_LOG_ENV, os.devnull)
    with open(path, "ab") as log:
        while True:
            await asyncio.sleep(FLUSH_S)
            records, _state["records"] = _state["records"], []
            if records:
                log.write(
                    b"".join(
                        orjson.dumps(
                            {
                                "request_id": rid.decode(),
                                "consumer": consumer,
                                "upstream_model": model,
                                "status": status,
                                "usage": usage,
                                "cost": cost,
                            }
                        )
                        + b"\n"
                        for rid, consumer, model, status, usage, cost in records
                    )
                )
                log.flush()
