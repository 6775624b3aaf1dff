"""The aiohttp seam maps transport failures to our upstream errors and never follows redirects."""

import asyncio
import time

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from gateway.errors import UpstreamConnectError, UpstreamProtocolError, UpstreamTimeout
from gateway.proxy.adapters.base import Deadline
from gateway.proxy.upstream_http import AiohttpUpstream
from tests.upstreams.server import free_port, serve_asgi


async def _stall(request):
    await asyncio.sleep(5)
    return JSONResponse({})


async def _sse(request):
    async def gen():
        for i in range(3):
            yield f"data: {i}\n\n".encode()

    return StreamingResponse(gen(), media_type="text/event-stream")


app = Starlette(
    routes=[
        Route("/json", lambda r: JSONResponse({"ok": True}), methods=["POST"]),
        Route("/bad", lambda r: Response(b"{not json", media_type="application/json")),
        Route("/redirect", lambda r: RedirectResponse("http://127.0.0.1:9/elsewhere")),
        Route("/stall", _stall),
        Route("/sse", _sse),
    ]
)


@pytest.fixture(scope="module")
def upstream():
    with serve_asgi(app) as url:
        yield url


def deadline(first_byte=2.0, total=5.0):
    return Deadline(connect_s=1.0, first_byte_s=first_byte, expires_at=time.monotonic() + total)


def run(coro_fn):
    async def main():
        http = AiohttpUpstream()
        try:
            return await coro_fn(http)
        finally:
            await http.aclose()

    return asyncio.run(main())


def test_json_round_trip_reuses_one_session(upstream):
    async def go(http):
        first = await (
            await http.request(
                "POST", upstream + "/json", headers={}, deadline=deadline(), json={"a": 1}
            )
        ).json()
        await http.request("POST", upstream + "/json", headers={}, deadline=deadline(), json={})
        return first, len(http._sessions)

    assert run(go) == ({"ok": True}, 1)


def test_connection_refused_is_a_connect_error():
    port = free_port()

    async def go(http):
        await http.request("GET", f"http://127.0.0.1:{port}/", headers={}, deadline=deadline())

    with pytest.raises(UpstreamConnectError) as info:
        run(go)
    assert "127.0.0.1" in str(info.value) and str(port) not in str(info.value)


def test_stall_before_headers_is_a_timeout(upstream):
    async def go(http):
        await http.request(
            "GET", upstream + "/stall", headers={}, deadline=deadline(first_byte=0.2)
        )

    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        run(go)
    assert time.monotonic() - started < 2


def test_total_deadline_bounds_the_attempt(upstream):
    async def go(http):
        await http.request(
            "GET", upstream + "/stall", headers={}, deadline=deadline(first_byte=10, total=0.3)
        )

    with pytest.raises(UpstreamTimeout):
        run(go)


def test_invalid_json_is_a_protocol_error(upstream):
    async def go(http):
        await (await http.request("GET", upstream + "/bad", headers={}, deadline=deadline())).json()

    with pytest.raises(UpstreamProtocolError):
        run(go)


def test_redirects_are_not_followed(upstream):
    async def go(http):
        return (
            await http.request("GET", upstream + "/redirect", headers={}, deadline=deadline())
        ).status

    assert run(go) in (302, 307)


def test_sse_events_arrive_in_order(upstream):
    async def go(http):
        response = await http.request("GET", upstream + "/sse", headers={}, deadline=deadline())
        return [data async for _, data in response.iter_sse()]

    assert run(go) == ["0", "1", "2"]
