"""A round-robin HTTP load balancer for tests: each request goes to the next backend.

Like a Kubernetes Service fronted by an ingress, it forwards requests and streams answers
back unchanged, except for hop-by-hop headers. It does no health checking and no retries,
so every failure of a backend reaches the client and is counted by the test.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

import httpx

HOP_BY_HOP = {
    b"connection",
    b"keep-alive",
    b"transfer-encoding",
    b"content-length",
    b"host",
    b"te",
    b"trailer",
    b"upgrade",
    b"proxy-connection",
}


class RoundRobin:
    """The ASGI app is `app`; `sent[url]` counts requests forwarded to each backend."""

    def __init__(self, backends: list[str]) -> None:
        self.backends = backends
        self.sent = dict.fromkeys(backends, 0)
        self._next = itertools.cycle(backends)
        self._lock = threading.Lock()
        self._http: httpx.AsyncClient | None = None

    def _pick(self) -> str:
        with self._lock:
            backend = next(self._next)
            self.sent[backend] += 1
            return backend

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return await self._lifespan(receive, send)
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=httpx.Timeout(30, connect=5))
        url = self._pick() + scope["raw_path"].decode()
        if scope["query_string"]:
            url += "?" + scope["query_string"].decode()
        headers = [(k, v) for k, v in scope["headers"] if k not in HOP_BY_HOP]
        request = self._http.build_request(scope["method"], url, headers=headers, content=body)
        response = await self._http.send(request, stream=True)
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [
                        (k, v) for k, v in response.headers.raw if k.lower() not in HOP_BY_HOP
                    ],
                }
            )
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                if self._http is not None:
                    await self._http.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return
