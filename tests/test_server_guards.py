"""`modelyard serve` against misbehaving clients, over raw sockets on loopback: request
smuggling, idle and slow connections, too many connections, percent-encoded paths."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.catalog.compile import build
from gateway.catalog.snapshot import ServerSettings, canonical_json
from gateway.proxy.server import guarded_protocol
from tests.conftest import KEY_ALICE, key_digest
from tests.test_rollout import replica
from tests.upstreams.server import serve_asgi

HEADER_S, BODY_S, KEEPALIVE_S, MAX_CONNECTIONS = 4.0, 1.0, 1.0, 1200
KEY_ADMIN = "sk-admin-0123456789"
HEALTH = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.fixture(scope="module", params=["httptools", "h11"])
def proxy(request, tmp_path_factory) -> Iterator[tuple[str, int]]:
    """The proxy process with short server deadlines: (host, port)."""
    root = tmp_path_factory.mktemp("guarded")
    (root / "catalog.yaml").write_text(f"""\
kind: Settings
name: settings
server: {{header_timeout_s: {HEADER_S}, body_timeout_s: {BODY_S},
         keepalive_timeout_s: {KEEPALIVE_S}, max_connections: {MAX_CONNECTIONS}}}
---
kind: Provider
name: mock
protocol: mock
auth: {{type: none}}
data_destination: protected
---
kind: Model
name: echo
display_name: Echo
type: chat
status: active
visibility: public
---
kind: Channel
name: echo@mock
model: echo
provider: mock
upstream_model: echo
price: {{currency: USD, unit: per_million_tokens, input: "0", output: "0"}}
---
kind: Consumer
name: alice
owner: {{type: person, code: alice}}
key_sha256: [{key_digest(KEY_ALICE)}]
scopes: [public]
---
kind: Consumer
name: ops
owner: {{type: person, code: ops}}
key_sha256: [{key_digest(KEY_ADMIN)}]
scopes: [public, admin]
""")
    result = build(root)
    assert result.snapshot is not None, [d.text() for d in result.diagnostics]
    path = Path(root / "snapshot.json")
    path.write_bytes(canonical_json(result.snapshot))
    with replica(str(path), "--http", request.param) as (url, _):
        host, port = url.removeprefix("http://").split(":")
        yield host, int(port)


def connect(proxy: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(proxy, timeout=10)
    return sock


def read_until_closed(sock: socket.socket, timeout: float = 10) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and the seconds it took."""
    start = time.monotonic()
    sock.settimeout(timeout)
    out = b""
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            break
        if not data:
            break
        out += data
    return out, time.monotonic() - start


def is_closed(sock: socket.socket) -> bool:
    """Whether the server closed `sock` (without waiting)."""
    sock.setblocking(False)
    try:
        while sock.recv(65536):  # a 408 may come first
            pass
    except BlockingIOError:
        return False
    except ConnectionResetError:
        pass
    return True


def answers(data: bytes) -> int:
    return data.count(b"HTTP/1.1 ")


def error_answer(data: bytes) -> tuple[int, dict]:
    """Status and OpenAI error of one complete answer, its framing checked on the way."""
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines)
    assert headers["connection"] == "close" and int(headers["content-length"]) == len(body)
    return int(status_line.split()[1]), json.loads(body)["error"]


def test_content_length_with_transfer_encoding_is_refused_and_the_connection_closed(proxy):
    sock = connect(proxy)
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + HEALTH
    )
    data, _ = read_until_closed(sock)
    assert answers(data) == 1
    status, error = error_answer(data)
    assert (status, error["code"], error["type"]) == (
        400,
        "ambiguous_framing",
        "invalid_request_error",
    )  # the request smuggled behind it is never answered


def test_two_pipelined_requests_are_both_answered(proxy):
    """The control for the test above: the server does answer a second request."""
    sock = connect(proxy)
    sock.sendall(HEALTH + HEALTH.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
    data, _ = read_until_closed(sock)
    assert answers(data) == 2


def test_expect_100_continue_is_answered_before_the_body_is_sent(proxy):
    """A client that waits for `100 Continue` gets it at once (the httptools server holds
    an answer's first write for its next one: gateway/proxy/head_hold.py), then its answer."""
    body = json.dumps({"model": "echo", "messages": [{"role": "user", "content": "hi"}]})
    sock = connect(proxy)
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
        + f"Authorization: Bearer {KEY_ALICE}\r\nContent-Type: application/json\r\n".encode()
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
    )
    sock.settimeout(BODY_S / 2)  # well inside the body deadline
    interim = b""
    while b"\r\n\r\n" not in interim:
        interim += sock.recv(65536)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    sock.sendall(body.encode() + HEALTH.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
    data, _ = read_until_closed(sock)
    assert answers(data) == 2 and data.startswith(b"HTTP/1.1 200 ")
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int(
        dict(line.lower().split(b": ", 1) for line in head.split(b"\r\n")[1:])[b"content-length"]
    )
    assert json.loads(rest[:length])["choices"][0]["message"]["role"] == "assistant"


def test_idle_slowloris_and_slow_body_connections_are_closed_in_time(proxy):
    # The attack of the report: 1,000 idle, 100 slowloris and 50 slow-body connections.
    idle = [connect(proxy) for _ in range(1000)]
    loris = [connect(proxy) for _ in range(100)]
    slow_body = [connect(proxy) for _ in range(50)]
    for sock in slow_body:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + KEY_ALICE.encode()
            + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
        )
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 1000
    start, sent = time.monotonic(), 0
    trickling = loris + slow_body
    while time.monotonic() - start < HEADER_S + 5:
        for sock in trickling:  # one byte each every 50 ms: never idle, never complete
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(head[sent : sent + 1] if sock in loris else b" ")
        sent += 1
        if all(is_closed(s) for s in idle + trickling):
            break
        for sock in trickling:
            sock.setblocking(True)
        time.sleep(0.05)  # the trickle's pace, not a wait for the server
    took = time.monotonic() - start
    still_open = sum(not is_closed(s) for s in idle + trickling)
    for sock in idle + trickling:
        sock.close()
    assert still_open == 0 and took < HEADER_S + 2.5, f"{still_open} open after {took:.1f} s"


def test_slow_body_gets_408_in_openai_shape(proxy):
    sock = connect(proxy)
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + KEY_ALICE.encode()
        + b"\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"mo'
    )
    data, took = read_until_closed(sock)
    assert error_answer(data)[0] == 408 and error_answer(data)[1]["code"] == "request_timeout"
    assert BODY_S - 0.2 < took < BODY_S + 2


def test_slow_head_gets_408_and_idle_keepalive_is_closed(proxy):
    sock = connect(proxy)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHo")
    data, took = read_until_closed(sock)
    assert error_answer(data)[0] == 408 and HEADER_S - 0.2 < took < HEADER_S + 2
    sock = connect(proxy)
    sock.sendall(HEALTH)
    data, took = read_until_closed(sock)
    assert answers(data) == 1 and took < KEEPALIVE_S + 2


def test_connections_over_the_limit_get_503_and_are_closed(proxy):
    held = [connect(proxy) for _ in range(MAX_CONNECTIONS)]
    try:
        extra = connect(proxy)
        data, _ = read_until_closed(extra)
        assert error_answer(data) == (
            503,
            {
                "message": "too many connections to this server; retry",
                "type": "server_error",
                "param": None,
                "code": "server_overloaded",
            },
        )
    finally:
        for sock in held:
            sock.close()


def test_a_percent_encoded_slash_does_not_reach_the_admin_endpoint(proxy):
    def get(path: str) -> bytes:
        sock = connect(proxy)
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY_ADMIN}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        return read_until_closed(sock)[0]

    assert get("/admin/status").startswith(b"HTTP/1.1 200 ")
    for spelling in ("/admin%2fstatus", "/admin%2Fstatus", "/%61dmin/status", "/v1%2fmodels"):
        data = get(spelling)
        assert data.startswith(b"HTTP/1.1 404 ") and b"unknown_url" in data, spelling


class EchoSocket:
    """A WebSocket echo app with very short server deadlines."""

    def server_settings(self) -> ServerSettings:
        return ServerSettings(header_timeout_s=0.3, body_timeout_s=0.3, keepalive_timeout_s=5)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-length", b"2")],
                }
            )
            await send({"type": "http.response.body", "body": b"ok"})
            return
        if scope["type"] != "websocket":
            return
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                return
            await send({"type": "websocket.send", "text": message["text"]})


@pytest.mark.parametrize("parser", ["httptools", "h11"])
def test_a_websocket_outlives_the_http_deadlines_of_its_connection(parser):
    with serve_asgi(
        EchoSocket(), http=guarded_protocol(parser), interface="asgi3", lifespan="off"
    ) as url:
        sock = connect(tuple(url.removeprefix("http://").split(":")))  # type: ignore[arg-type]
        sock.sendall(HEALTH)  # a request first: the connection has an old cycle when it upgrades
        answer = b""
        while not answer.endswith(b"ok"):
            answer += sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200 ")
        key = base64.b64encode(b"0123456789abcdef")
        sock.sendall(
            b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Key: " + key + b"\r\n\r\n"
        )
        assert sock.recv(65536).startswith(b"HTTP/1.1 101 ")
        time.sleep(1.0)  # three head and body deadlines pass: what must not happen has had time
        mask, text = b"\x01\x02\x03\x04", b"still here"
        sock.sendall(
            bytes([0x81, 0x80 | len(text)])
            + mask
            + bytes(b ^ mask[i % 4] for i, b in enumerate(text))
        )
        sock.settimeout(5)
        assert sock.recv(65536) == bytes([0x81, len(text)]) + text
