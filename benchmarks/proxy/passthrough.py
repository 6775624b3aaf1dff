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
    headers = {"Authorization": "Bearer " + os.environ.get("BENCH_UPSTREAM_KEY", ""),
               "Content-Type": "application/json"}
    return url, headers


def _app(handler: Callable, lifespan: Callable) -> Starlette:
    return Starlette(routes=[Route("/v1/chat/completions", handler, methods=["POST"])],
                     lifespan=lifespan)


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

        return StreamingResponse(upstream.content.iter_any(), status_code=upstream.status,
                                 media_type=media_type, background=BackgroundTask(release))
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
    upstream = await client.send(client.build_request("POST", url, content=body,
                                                      headers=headers), stream=True)
    media_type = upstream.headers.get("Content-Type", "application/json")
    if media_type.startswith("text/event-stream"):
        return StreamingResponse(upstream.aiter_raw(), status_code=upstream.status_code,
                                 media_type=media_type,
                                 background=BackgroundTask(upstream.aclose))
    content = await upstream.aread()
    await upstream.aclose()
    return Response(content, status_code=upstream.status_code, media_type=media_type)


httpx_app = _app(_httpx_chat, _httpx_lifespan)
