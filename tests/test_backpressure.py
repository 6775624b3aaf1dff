"""A client that stops reading a long stream costs the proxy a bounded amount of memory: the
upstream is read no further than the client takes, and closing gives it all back."""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from tests.conftest import KEY_ALICE, key_digest
from tests.test_serve_cmd import serving
from tests.upstreams.server import serve_asgi

STREAM_BYTES = 50 * 1024 * 1024
EVENT_TEXT = "x" * 1000
CLIENTS = 10


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


def write_catalog(root: Path, upstream: str) -> Path:
    root.mkdir(parents=True)
    (root / "catalog.yaml").write_text(f"""\
kind: Provider
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


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


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


def test_clients_that_stop_reading_a_50_mb_stream_hold_bounded_memory(tmp_path):
    if not sys.platform.startswith("linux"):
        return
    upstream = LongStream()
    with (
        serve_asgi(upstream.app) as up,
        serving("--catalog", str(write_catalog(tmp_path / "c", up))) as (url, proc, _),
    ):
        with httpx.stream(
            "POST",
            f"{url}/v1/chat/completions",
            timeout=60,
            headers={"Authorization": f"Bearer {KEY_ALICE}"},
            json={
                "model": "long",
                "stream": True,
                "messages": [{"role": "user", "content": "warm up"}],
            },
        ) as r:
            assert sum(len(b) for b in r.iter_bytes()) > 0.99 * STREAM_BYTES  # readers get it all
        baseline = rss_mb(proc.pid)
        upstream.sent = 0
        sockets = [stalled_reader(url) for _ in range(CLIENTS)]
        try:
            time.sleep(3)  # the streams run into the stalled readers
            sent = upstream.sent
            time.sleep(1)
            assert upstream.sent == sent  # the upstream is no longer read: it waits too
            # What left the upstream sits in loopback socket buffers (a few MB each way), not
            # in the proxy: far less than the streams.
            assert sent < CLIENTS * 16 * 1024 * 1024 < CLIENTS * STREAM_BYTES, sent
            grown = rss_mb(proc.pid) - baseline
            assert grown < 50, f"RSS grew {grown:.0f} MB with {CLIENTS} stalled readers"
        finally:
            for sock in sockets:
                sock.close()
        # Memory freed when they close stays with the process's allocator for reuse: a second
        # and third round of stalled readers take no more, so nothing is held per stream.
        time.sleep(2)
        after_first = rss_mb(proc.pid)
        for _ in range(2):
            sockets = [stalled_reader(url) for _ in range(CLIENTS)]
            time.sleep(3)
            assert rss_mb(proc.pid) - baseline < 50
            for sock in sockets:
                sock.close()
        time.sleep(2)
        assert rss_mb(proc.pid) < after_first + 8, (after_first, rss_mb(proc.pid))
        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
