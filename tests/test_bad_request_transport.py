"""The HTTP layer of the bad-request corpus: oversized bodies (by length and chunked),
broken framing, huge or numerous headers, duplicated and odd credentials. Sent through the
corpus's proxy (tests/test_bad_requests.py), as raw bytes where no client would send them;
each case counts toward the corpus's total."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from tests.bad_request_support import (
    CHAT,
    LIMIT,
    SENT,
    Gate,
    encode,
    gate,
    post,
    problem,
    reached,
)
from tests.conftest import KEY_ALICE
from tests.test_bad_requests import AUTH, BASE_CHAT, VALID, replaced

__all__ = ["gate"]  # the proxy fixture, shared with the rest of the bad-request corpus


# ----- sizes -----


def big_body(size: int) -> bytes:
    body = encode(replaced(BASE_CHAT, ("messages", 0, "content"), "x" * size))
    assert len(body) > LIMIT
    return body


def chunks_of(body: bytes, size: int = 8192) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_oversized_bodies_are_refused_with_413(gate):
    cases = [
        ("content-length, just over", lambda: post(gate, big_body(LIMIT))),
        ("content-length, 4 MiB", lambda: post(gate, big_body(4 << 20))),
        ("chunked, just over", lambda: post(gate, chunks_of(big_body(LIMIT)))),
        ("chunked, 4 MiB", lambda: post(gate, chunks_of(big_body(4 << 20)))),
        ("chunked, one big chunk", lambda: post(gate, iter([big_body(LIMIT * 2)]))),
    ]
    for label, send in cases:
        response = send()
        assert response.status_code == 413, label
        assert problem(gate, response) is None, label


def raw_exchange(gate: Gate, head: bytes, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """Send a hand-made request; return the status, headers and body (bounded read)."""
    host, port = gate.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head + b"\r\n" + body)
        data = b""
        while b"\r\n\r\n" not in data or len(data) < _expected_size(data):
            try:
                more = sock.recv(65536)
            except ConnectionResetError:  # the server refused and closed before reading it all
                more = b""
            if not more:
                break
            data += more
    if not data:
        return 0, {}, b""
    header_block, _, rest = data.partition(b"\r\n\r\n")
    lines = header_block.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split(" ")[1]), headers, rest


def _expected_size(data: bytes) -> int:
    head, _, _ = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(head) + 4 + int(line.split(b":")[1])
    return len(data) + 1


def request_head(*headers: str, length: int | None = None, key: str | None = KEY_ALICE) -> bytes:
    lines = [
        f"POST {CHAT} HTTP/1.1",
        "host: 127.0.0.1",
        "connection: close",
        "content-type: application/json",
        *headers,
    ]
    if key is not None:
        lines.append(f"authorization: Bearer {key}")
    if length is not None:
        lines.append(f"content-length: {length}")
    return ("\r\n".join(lines) + "\r\n").encode()


N = len(VALID)
FRAMING_CASES: dict[str, tuple[bytes, bytes]] = {
    "two different content-lengths": (request_head(f"content-length: {N - 1}", length=N), VALID),
    "negative content-length": (request_head("content-length: -1"), VALID),
    "non-numeric content-length": (request_head("content-length: 12abc"), VALID),
    "content-length above the limit": (request_head(length=100 * LIMIT), VALID),
    "header value of 64 KiB": (request_head("x-big: " + "a" * 65536, length=N), VALID),
    "authorization of 64 KiB": (request_head(length=N, key="k" * 65536), VALID),
    "2,000 headers": (request_head(*(f"x-h{i}: {'v' * 40}" for i in range(2000)), length=N), VALID),
    "NUL in the authorization": (request_head(length=N, key=KEY_ALICE + "\x00"), VALID),
    "space before the colon": (
        request_head(f"authorization : Bearer {KEY_ALICE}", length=N, key=None),
        VALID,
    ),
}


@pytest.mark.parametrize("label", FRAMING_CASES)
def test_broken_framing_and_huge_headers_never_pass(gate, label):
    """The HTTP server may refuse some of these itself, with a plain 400 and no OpenAI body."""
    head, body = FRAMING_CASES[label]
    status, headers, answer = raw_exchange(gate, head, body)
    SENT["cases"] += 1
    assert reached(gate) == 0
    # 0: the HTTP server reset the connection before its 400 could be read (a huge head it
    # refused while the client was still sending): refused all the same.
    assert status == 0 or 400 <= status < 500, (status, answer[:200])
    if "x-request-id" in headers:  # answered by the proxy, not the HTTP server: OpenAI's shape
        assert set(json.loads(answer)["error"]) >= {"message", "type", "param", "code"}


DUPLICATE_HEADERS: dict[str, list[tuple[str, str]]] = {
    "two authorizations, valid first": [("authorization", AUTH), ("authorization", "Bearer x")],
    "two authorizations, valid last": [("authorization", "Bearer x"), ("authorization", AUTH)],
    "two equal authorizations": [("authorization", AUTH), ("authorization", AUTH)],
    "two x-api-keys, valid first": [("x-api-key", KEY_ALICE), ("x-api-key", "x")],
    "authorization of 8 KiB": [("authorization", "Bearer " + "k" * 8192)],
    "basic scheme": [("authorization", "Basic " + KEY_ALICE)],
    "bearer without key": [("authorization", "Bearer")],
    "two keys in one authorization": [("authorization", AUTH + " " + KEY_ALICE)],
    "two destinations": [
        ("authorization", AUTH),
        ("x-modelyard-data-destination", "overseas"),
        ("x-modelyard-data-destination", "protected"),
    ],
}


@pytest.mark.parametrize("label", DUPLICATE_HEADERS)
def test_duplicated_or_odd_credentials_are_refused(gate, label):
    assert problem(gate, post(gate, VALID, headers=DUPLICATE_HEADERS[label])) is None
