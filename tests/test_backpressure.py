"""A client that stops reading a long stream costs the proxy a bounded amount of memory: the
upstream is read no further than the client takes, and closing gives it all back: RSS
returns to where it was before the stalled readers came (gateway/proxy/heap.py)."""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from gateway.proxy.heap import glibc_trim
from tests.conftest import KEY_ALICE, key_digest, poll
from tests.test_serve_cmd import serving
from tests.upstreams.server import serve_asgi

STREAM_BYTES = 50 * 1024 * 1024
EVENT_TEXT = "x" * 1000
CLIENTS = 10
#: Rounds of stalled readers measured after the warm-up round.
ROUNDS = 2
#: How far above the baseline RSS may stay once the stalled readers have closed.
TOLERANCE_MB = 5


class LongStream:
    """An OpenAI upstream whose every chat answer is a 50 MB stream, written as fast as the
    proxy reads it; `sent` counts the bytes it got rid of."""

    def __init__(self) -> None:
        self.sent = 0
        self.app = Starlette(routes=[Route("/v1/chat/completions", self.chat, methods=["POST"])])

    async def chat(self, request: Request) -> StreamingResponse:
        body = await request.json()
        event = json.dumps(
            {
                "id": "c",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": body["model"],
                "choices": [{"index": 0, "delta": {"content": EVENT_TEXT}, "finish_reason": None}],
            }
        )
        piece = f"data: {event}\n\n".encode() * 64
        end = json.dumps(
            {
                "id": "c",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": body["model"],
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            }
        )

        async def chunks():
            for _ in range(STREAM_BYTES // len(piece)):
                self.sent += len(piece)
                yield piece
            yield f"data: {end}\n\ndata: [DONE]\n\n".encode()

        return StreamingResponse(chunks(), media_type="text/event-stream")


def write_catalog(root: Path, upstream: str, settings: str = "") -> Path:
    root.mkdir(parents=True)
    (root / "catalog.yaml").write_text(f"""\
{settings}kind: Provider
name: long
protocol: openai
base_url: {upstream}/v1
auth: {{type: none}}
---
kind: Capability
name: streaming
applies_to: [chat]
---
kind: Model
name: long
display_name: Long
type: chat
capabilities: [streaming]
---
kind: Channel
name: long@long
model: long
provider: long
upstream_model: long-v1
---
kind: Consumer
name: alice
owner: {{type: person, code: alice}}
key_sha256: [{key_digest(KEY_ALICE)}]
scopes: [public]
""")
    return root


def long_answer(url: str, content: str) -> Any:
    """The long stream asked for through the proxy at `url` (httpx.stream's context)."""
    return httpx.stream(
        "POST",
        f"{url}/v1/chat/completions",
        timeout=60,
        headers={"Authorization": f"Bearer {KEY_ALICE}"},
        json={"model": "long", "stream": True, "messages": [{"role": "user", "content": content}]},
    )


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def unchanged_for(seconds: float, read: Callable[[], float], within: float) -> Callable[[], bool]:
    """A poll condition: `read()` has stayed within `within` of one value for `seconds`."""
    since = [time.monotonic(), read()]

    def check() -> bool:
        value = read()
        if abs(value - since[1]) > within:
            since[:] = [time.monotonic(), value]
            return False
        return time.monotonic() - since[0] >= seconds

    return check


def stalled_reader(url: str) -> socket.socket:
    """Ask for the stream, read its first bytes, then read nothing more."""
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps(
        {"model": "long", "stream": True, "messages": [{"role": "user", "content": "go"}]}
    ).encode()
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        b"Authorization: Bearer " + KEY_ALICE.encode() + b"\r\n"
        b"Content-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    assert b"200 OK" in sock.recv(16 * 1024)
    return sock


def stall_round(url: str, upstream: LongStream, pid: int) -> float:
    """CLIENTS stalled readers, held until the upstream is no longer read, then closed: the
    proxy's RSS while they were stalled."""
    upstream.sent = 0
    sockets = [stalled_reader(url) for _ in range(CLIENTS)]
    try:
        # The streams run into the stalled readers: the upstream waits too.
        poll(unchanged_for(1.0, lambda: upstream.sent, within=0), timeout=30)
        # What left the upstream sits in loopback socket buffers (a few MB each way), not
        # in the proxy: far less than the streams.
        assert upstream.sent < CLIENTS * 16 * 1024 * 1024 < CLIENTS * STREAM_BYTES
        return rss_mb(pid)
    finally:
        for sock in sockets:
            sock.close()


def back_to(level: float, pid: int, what: str) -> float:
    """Wait (bounded) for RSS to come back within TOLERANCE_MB of `level`; RSS then."""
    try:
        poll(lambda: rss_mb(pid) <= level + TOLERANCE_MB, timeout=10)
    except AssertionError:
        raise AssertionError(
            f"RSS {rss_mb(pid):.1f} MB 10 s after {what}, more than {TOLERANCE_MB} MB over "
            f"{level:.1f} MB"
        ) from None
    return rss_mb(pid)


def test_clients_that_stop_reading_a_50_mb_stream_hold_bounded_memory_and_give_it_back(
    tmp_path,
):
    if not sys.platform.startswith("linux") or glibc_trim() is None:
        pytest.skip("RSS is read from /proc; freed memory is given back through glibc")
    upstream = LongStream()
    with (
        serve_asgi(upstream.app) as up,
        serving("--catalog", str(write_catalog(tmp_path / "c", up))) as (url, proc, _),
    ):
        with long_answer(url, "warm up") as r:
            assert sum(len(b) for b in r.iter_bytes()) > 0.99 * STREAM_BYTES  # readers get it all
        served_one = rss_mb(proc.pid)
        # Warm-up round: what the stalled-reader path loads once is not counted. It must give
        # back what it took as well, or a kept peak would make every later round look flat.
        warm = stall_round(url, upstream, proc.pid)
        back_to(served_one, proc.pid, "the warm-up round's readers closed")
        poll(unchanged_for(2.0, lambda: rss_mb(proc.pid), within=0.5), timeout=15)
        baseline = rss_mb(proc.pid)
        figures = [f"after one stream read whole {served_one:.1f} MB, warm-up stalled {warm:.1f}"]
        figures.append(f"baseline {baseline:.1f}")
        for n in range(1, ROUNDS + 1):
            stalled = stall_round(url, upstream, proc.pid)
            assert stalled - baseline < 50, f"RSS grew {stalled - baseline:.0f} MB, stalled"
            after = back_to(baseline, proc.pid, f"round {n}'s readers closed")
            figures.append(f"round {n}: stalled {stalled:.1f}, after close {after:.1f}")
        print("RSS MB: " + "; ".join(figures))
        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200


FIRST_BYTE_S = 0.5


def test_a_client_that_pauses_past_the_first_byte_timeout_still_gets_the_whole_stream(
    tmp_path,
):
    """The first-byte timeout also bounds the silence between an upstream's reads; a client
    that stops reading for three times as long, while the proxy's writes to it wait, is not
    an upstream gone silent (gateway/proxy/timeout.py, IdleTimeout.pause)."""
    upstream = LongStream()
    settings = f"""\
kind: Settings
name: settings
defaults: {{first_byte_timeout_s: {FIRST_BYTE_S}}}
---
"""
    with serve_asgi(upstream.app) as up:
        catalog = write_catalog(tmp_path / "c", up, settings)
        with serving("--catalog", str(catalog)) as (url, _proc, _), long_answer(url, "go") as r:
            chunks = r.iter_bytes()
            got = len(next(chunks))
            time.sleep(3 * FIRST_BYTE_S)  # the proxy's writes to this client wait meanwhile
            assert upstream.sent < STREAM_BYTES / 2  # the upstream waited on the client too
            tail = b""
            for chunk in chunks:
                got += len(chunk)
                tail = (tail + chunk)[-4096:]
    assert got > 0.99 * STREAM_BYTES
    assert tail.endswith(b"data: [DONE]\n\n") and b'"error"' not in tail
