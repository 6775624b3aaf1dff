"""Bare pass-throughs to compare against: a starlette app forwarding chat requests as they are.

Two apps differ only in the upstream client: `aiohttp_app` and `httpx_app`. Each reads the
body, parses it (as any proxy must, to know whether it streams), forwards the bytes with the
upstream key to the benchmark upstream and returns its answer, streaming SSE through.
Run with uvicorn; the upstream root comes from BENCH_UPSTREAM_URL, the key from
BENCH_UPSTREAM_KEY.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator, Callable

import aiohttp
import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from benchmarks.proxy.upstream import CHAT_PATH, PLAIN_PREFIX, STREAM_PREFIX

#: Enough pooled connections for the highest concurrency measured, all kept alive.
POOL_SIZE = 128


def _target(body: bytes) -> tuple[str, dict[str, str]]:
    root = os.environ["BENCH_UPSTREAM_URL"]
    stream = bool(json.loads(body).get("stream"))
    url = root + (STREAM_PREFIX if stream else PLAIN_PREFIX) + CHAT_PATH
    headers = {
        "Authorization": "Bearer " + os.environ.get("BENCH_UPSTREAM_KEY", ""),
        "Content-Type": "application/json",
    }
    return url, headers


def _app(handler: Callable, lifespan: Callable) -> Starlette:
    return Starlette(
        routes=[Route("/v1/chat/completions", handler, methods=["POST"])], lifespan=lifespan
    )


# --- aiohttp ---------------------------------------------------------------------------------

_aiohttp: dict[str, aiohttp.ClientSession] = {}


@contextlib.asynccontextmanager
async def _aiohttp_lifespan(_app: Starlette) -> AsyncIterator[None]:
    connector = aiohttp.TCPConnector(limit=POOL_SIZE)
    async with aiohttp.ClientSession(connector=connector) as session:
        _aiohttp["session"] = session
        yield


async def _aiohttp_chat(request: Request) -> Response:
    body = await request.body()
    url, headers = _target(body)
    upstream = await _aiohttp["session"].post(url, data=body, headers=headers)
    media_type = upstream.headers.get("Content-Type", "application/json")
    if media_type.startswith("text/event-stream"):

        async def release() -> None:  # async: starlette runs a sync task in a thread
            upstream.release()

        return StreamingResponse(
            upstream.content.iter_any(),
            status_code=upstream.status,
            media_type=media_type,
            background=BackgroundTask(release),
        )
    content = await upstream.read()
    upstream.release()
    return Response(content, status_code=upstream.status, media_type=media_type)


aiohttp_app = _app(_aiohttp_chat, _aiohttp_lifespan)


# --- httpx -----------------------------------------------------------------------------------

_httpx: dict[str, httpx.AsyncClient] = {}


@contextlib.asynccontextmanager
async def _httpx_lifespan(_app: Starlette) -> AsyncIterator[None]:
    limits = httpx.Limits(max_connections=POOL_SIZE, max_keepalive_connections=POOL_SIZE)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        _httpx["client"] = client
        yield


async def _httpx_chat(request: Request) -> Response:
    body = await request.body()
    url, headers = _target(body)
    client = _httpx["client"]
    upstream = await client.send(
        client.build_request("POST", url, content=body, headers=headers), stream=True
    )
    media_type = upstream.headers.get("Content-Type", "application/json")
    if media_type.startswith("text/event-stream"):
        return StreamingResponse(
            upstream.aiter_raw(),
            status_code=upstream.status_code,
            media_type=media_type,
            background=BackgroundTask(upstream.aclose),
        )
    content = await upstream.aread()
    await upstream.aclose()
    return Response(content, status_code=upstream.status_code, media_type=media_type)


httpx_app = _app(_httpx_chat, _httpx_lifespan)


# --- the baseline: the fastest bare pass-through ----------------------------------------------
# A raw ASGI app (no framework) for uvicorn with uvloop and httptools: reads the body, parses
# it with orjson, routes on `model` (a dict lookup: model name -> upstream URL; 404 for
# another) and forwards the unchanged bytes with the upstream key over one pooled aiohttp
# session; a streamed answer is relayed chunk by chunk as aiohttp reads it. No auth, no
# validation, no accounting, no renaming: the least any Python proxy that routes on the
# model must do, and so the ceiling modelyard is measured against.

_fast: dict[str, object] = {}


def _routes() -> dict[str, str]:
    from benchmarks.proxy.bench_catalog import PLAIN_MODEL, STREAM_MODEL

    root = os.environ["BENCH_UPSTREAM_URL"]
    return {
        PLAIN_MODEL: root + PLAIN_PREFIX + CHAT_PATH,
        STREAM_MODEL: root + STREAM_PREFIX + CHAT_PATH,
    }


async def serve_lifespan(receive: Callable, send: Callable, state: dict[str, object]) -> None:
    """The lifespan of a raw pass-through: one pooled aiohttp session, the routes and the
    upstream headers in `state`, the session closed at shutdown."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            # as many connections as modelyard may keep (the long-stream test holds
            # 2,000 streams open at once)
            connector = aiohttp.TCPConnector(limit=0, limit_per_host=4096)
            state["session"] = aiohttp.ClientSession(connector=connector)
            state["routes"] = _routes()
            state["headers"] = {
                "Authorization": "Bearer " + os.environ.get("BENCH_UPSTREAM_KEY", ""),
                "Content-Type": "application/json",
            }
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await state["session"].close()  # type: ignore[attr-defined]
            await send({"type": "lifespan.shutdown.complete"})
            return


async def read_body(receive: Callable) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def fast_app(scope: dict, receive: Callable, send: Callable) -> None:
    import orjson

    if scope["type"] == "lifespan":
        await serve_lifespan(receive, send, _fast)
        return
    body = await read_body(receive)
    url = _fast["routes"].get(orjson.loads(body).get("model"))  # type: ignore[attr-defined]
    if url is None:
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"unknown model"})
        return
    session: aiohttp.ClientSession = _fast["session"]  # type: ignore[assignment]
    async with session.post(url, data=body, headers=_fast["headers"]) as upstream:
        content_type = upstream.headers.get("Content-Type", "application/json").encode()
        await send(
            {
                "type": "http.response.start",
                "status": upstream.status,
                "headers": [(b"content-type", content_type)],
            }
        )
        if content_type.startswith(b"text/event-stream"):
            async for chunk in upstream.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        else:
            await send({"type": "http.response.body", "body": await upstream.read()})
