"""A static web server for one `snapshot.json`, with ETags, as CI publishes it to a bucket.

`publish(body)` replaces the file; every GET is counted by how it was answered (200 or 304).
`fail_with(status)` makes it answer an error instead, until `fail_with(None)`.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any


class SnapshotHost:
    """The ASGI app is `app`; `answers` counts 200s and 304s."""

    def __init__(self, body: bytes = b"") -> None:
        self._lock = threading.Lock()
        self.answers = {200: 0, 304: 0}
        self.status: int | None = None
        self.etag_enabled = True  # False: a plain host that sends every body in full
        self.publish(body)

    def publish(self, body: bytes) -> str:
        """Serve `body` from now on; returns its ETag."""
        with self._lock:
            self.body = body
            self.etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
            return self.etag

    def fail_with(self, status: int | None) -> None:
        self.status = status

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        with self._lock:
            body, etag = self.body, self.etag
        status, headers = 200, [(b"content-type", b"application/json")]
        if self.etag_enabled:
            headers.append((b"etag", etag.encode()))
        if self.status is not None or scope["path"] != "/snapshot.json":
            status, body, headers = self.status or 404, b"no", []
        elif self.etag_enabled and (b"if-none-match", etag.encode()) in scope["headers"]:
            status, body = 304, b""
        if status in self.answers:
            self.answers[status] += 1
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
